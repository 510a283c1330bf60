"""Results rendered for people: charts as PNG, responses as CSV and JSON."""
