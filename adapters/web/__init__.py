"""The web server: web chat, admin API, health and metrics, and the platforms' HTTP endpoints."""
