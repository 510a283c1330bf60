#!/usr/bin/env node
// Runs the npm package telegram-test-api (pinned in package.json) as a Bot API server that
// python-telegram-bot can talk to, for surveybot's end-to-end tests.
//
//   node tests/e2e/telegram_emulator/launcher.js [--host 127.0.0.1] [--port 0]
//
// Prints `listening on http://HOST:PORT` once ready. Bots call HOST:PORT/bot<token>/<method>; tests act
// as the user through the package's client routes (/sendMessage, /sendCommand, /sendCallback) and read
// what the bot did through the routes added below (/botMessages, /callbackAnswers, /commands, ...).
//
// The package's own server holds the chats; this front fixes what python-telegram-bot cannot parse or
// what differs from Telegram (each fix is marked FIX below):
//  - getMe lacks `is_bot`, and its id does not match the token's bot id;
//  - dates are in milliseconds; callback queries lack `chat_instance`; updates carry a `botToken` field;
//  - sendMessage echoes the request (string-encoded fields included) instead of a Message;
//  - editMessageText/ReplyMarkup and answerCallbackQuery return null; editMessageText without a
//    keyboard keeps the old keyboard, and editMessageReplyMarkup cannot remove one;
//  - getUpdates returns at once (python-telegram-bot would spin): here it long-polls up to `timeout`;
//  - setWebhook drops `secret_token`, webhook posts lack the secret header, and a refused post
//    crashes the process (unhandled rejection); concurrent posts could share one update id;
//  - setMyCommands, getWebhookInfo, getFile (and file downloads) and sendPhoto are missing; other
//    unknown methods get Telegram's 404 instead of an answer python-telegram-bot cannot read.
'use strict';

const http = require('http');
const { createRequire } = require('module');
const { Readable } = require('stream');

const TelegramServer = require('telegram-test-api');
const express = createRequire(require.resolve('telegram-test-api'))('express');

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1] : fallback;
}

const host = option('host', '127.0.0.1');
const port = Number(option('port', '0'));
const now = () => Math.floor(Date.now() / 1000);
const botId = (token) => Number(String(token).split(':')[0]) || 666;
const botUser = (token) => ({
  id: botId(token), is_bot: true, first_name: 'Survey Test Bot', username: 'SurveyTestBot',
  can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false,
});

const server = new TelegramServer({ host, port, storeTimeout: 3600 });
const state = { callbackAnswers: [], commands: {}, webhooks: {}, files: {}, deliveries: [] };
const forToken = (list, token) => list.filter((item) => item.token === token);

// FIX: dates in seconds, chat_instance on callback queries, no botToken field inside messages.
function fixMessage(message) {
  if (!message) return message;
  const { botToken, ...rest } = message;
  const date = Number(rest.date) || now();
  return { ...rest, date: date > 1e11 ? Math.floor(date / 1000) : date };
}
const formatUpdate = TelegramServer.formatUpdate;
TelegramServer.formatUpdate = (stored) => {
  const update = formatUpdate(stored);
  if (update.message) update.message = fixMessage(update.message);
  if (update.callback_query) {
    const query = update.callback_query;
    query.message = fixMessage(query.message);
    query.chat_instance = query.chat_instance || String(query.message ? query.message.chat.id : query.from.id);
  }
  return update;
};

// FIX: ids taken before the first await (so concurrent updates never share one), the secret header on
// webhook posts, and a refused or failed post logged instead of crashing the process.
server.addUserUpdate = async function addUserUpdate(update) {
  update.updateId = this.updateId++;
  update.messageId = this.messageId++;
  if ('callbackQuery' in update) update.callbackId = this.callbackId++;
  const webhook = state.webhooks[update.botToken];
  if (!webhook) {
    this.storage.userMessages.push(update);
    return;
  }
  const headers = { 'content-type': 'application/json' };
  if (webhook.secret_token) headers['x-telegram-bot-api-secret-token'] = webhook.secret_token;
  let status = 0;
  try {
    const response = await fetch(webhook.url, {
      method: 'POST', headers, body: JSON.stringify(TelegramServer.formatUpdate(update)),
    });
    status = response.status;
    await response.arrayBuffer();
  } catch (error) {
    console.error(`webhook post to ${webhook.url} failed: ${error}`);
  }
  state.deliveries.push({ token: update.botToken, update_id: update.updateId, status });
};

function stored(token, chatId, messageId) {
  return server.storage.botMessages.find((m) => m.botToken === token
    && String(m.messageId) === String(messageId) && String(m.message.chat_id) === String(chatId));
}

// FIX: a Message as Telegram returns it, built from what the emulator stores.
function asMessage(entry) {
  const m = entry.message;
  const message = {
    message_id: entry.messageId,
    date: Math.floor(entry.time / 1000),
    chat: { id: Number(m.chat_id), type: 'private', first_name: 'User' },
    from: botUser(entry.botToken),
  };
  for (const key of ['text', 'caption', 'photo']) if (m[key] !== undefined) message[key] = m[key];
  if (m.reply_markup && m.reply_markup.inline_keyboard) message.reply_markup = m.reply_markup;
  return message;
}

const parseJson = (value) => (typeof value === 'string' ? JSON.parse(value) : value);
const ok = (res, result) => res.json({ ok: true, result });
const fail = (res, code, description) => res.status(code).json({ ok: false, error_code: code, description });

function addBotMessage(token, body) {
  const message = { ...body };
  if (message.reply_markup !== undefined) message.reply_markup = parseJson(message.reply_markup);
  server.addBotMessage(message, token);
  return server.storage.botMessages[server.storage.botMessages.length - 1];
}

function edit(req, res, fields) {
  const { token } = req.params;
  const entry = stored(token, req.body.chat_id, req.body.message_id);
  if (!entry) return fail(res, 400, 'Bad Request: message to edit not found');
  const markup = req.body.reply_markup === undefined ? undefined : parseJson(req.body.reply_markup);
  for (const key of fields) if (req.body[key] !== undefined) entry.message[key] = req.body[key];
  // FIX: an edit without a keyboard removes the keyboard, as on Telegram.
  if (markup && markup.inline_keyboard) entry.message.reply_markup = markup;
  else delete entry.message.reply_markup;
  return ok(res, asMessage(entry));
}

// FIX: photos come as multipart form data, which the package cannot read.
async function formFields(req) {
  const type = req.headers['content-type'] || '';
  if (!type.startsWith('multipart/form-data')) return req.body;
  const form = await new Response(Readable.toWeb(req), { headers: { 'content-type': type } }).formData();
  const fields = {};
  for (const [key, value] of form.entries()) {
    fields[key] = typeof value === 'string' ? value : { name: value.name, size: value.size };
  }
  return fields;
}

function waitForUserUpdate(token, seconds, res) {
  const pending = () => server.storage.userMessages.some((u) => u.botToken === token && !u.isRead);
  if (pending() || seconds <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const events = ['AddedUserMessage', 'AddedUserCommand', 'AddedUserCallbackQuery'];
    const done = () => {
      clearTimeout(timer);
      events.forEach((event) => server.off(event, check));
      res.off('close', done);
      resolve();
    };
    const check = () => pending() && done();
    const timer = setTimeout(done, seconds * 1000);
    events.forEach((event) => server.on(event, check));
    res.on('close', done);
  });
}

const methods = {
  getMe: (req, res) => ok(res, botUser(req.params.token)),
  // FIX: long polling instead of an immediate empty answer.
  getUpdates: async (req, res) => {
    const { token } = req.params;
    await waitForUserUpdate(token, Math.min(Number(req.body.timeout) || 0, 30), res);
    ok(res, server.getUpdates(token));
  },
  sendMessage: (req, res) => ok(res, asMessage(addBotMessage(req.params.token, req.body))),
  sendPhoto: async (req, res) => {
    const fields = await formFields(req);
    const photo = [{ file_id: `photo-${Date.now()}`, file_unique_id: 'p', width: 800, height: 600 }];
    ok(res, asMessage(addBotMessage(req.params.token, { ...fields, photo })));
  },
  editMessageText: (req, res) => edit(req, res, ['text']),
  editMessageReplyMarkup: (req, res) => edit(req, res, []),
  answerCallbackQuery: (req, res) => {
    const { token } = req.params;
    const { callback_query_id: id, text, show_alert: alert } = req.body;
    const again = state.callbackAnswers.some((a) => a.token === token && a.callback_query_id === String(id));
    state.callbackAnswers.push({ token, callback_query_id: String(id), text: text || '', show_alert: alert === 'true' });
    // As on Telegram: a callback query can be answered once.
    return again ? fail(res, 400, 'Bad Request: query is too old and response timeout expired or query ID is invalid')
      : ok(res, true);
  },
  setMyCommands: (req, res) => {
    const scope = req.body.scope ? parseJson(req.body.scope) : { type: 'default' };
    state.commands[req.params.token] = state.commands[req.params.token] || [];
    state.commands[req.params.token].push({ scope, commands: parseJson(req.body.commands) });
    ok(res, true);
  },
  setWebhook: (req, res) => {
    state.webhooks[req.params.token] = { url: req.body.url, secret_token: req.body.secret_token };
    ok(res, true);
  },
  deleteWebhook: (req, res) => {
    delete state.webhooks[req.params.token];
    ok(res, true);
  },
  getWebhookInfo: (req, res) => {
    const webhook = state.webhooks[req.params.token];
    ok(res, { url: webhook ? webhook.url : '', has_custom_certificate: false, pending_update_count: 0 });
  },
  getFile: (req, res) => {
    const file = state.files[req.body.file_id];
    if (!file || file.token !== req.params.token) return fail(res, 400, 'Bad Request: invalid file_id');
    return ok(res, { file_id: req.body.file_id, file_unique_id: req.body.file_id, file_size: file.content.length, file_path: `documents/${req.body.file_id}` });
  },
};

const app = express();
app.use(express.json({ limit: '5mb' }));
app.use(express.urlencoded({ extended: true, limit: '5mb' }));

app.all('/bot:token/:method', (req, res, next) => {
  const handler = methods[req.params.method];
  if (!handler) return fail(res, 404, 'Not Found');
  req.body = { ...req.query, ...req.body };
  return Promise.resolve(handler(req, res)).catch(next);
});
app.get('/file/bot:token/documents/:fileId', (req, res) => {
  const file = state.files[req.params.fileId];
  if (!file || file.token !== req.params.token) return res.status(404).end();
  return res.type('application/octet-stream').send(file.content);
});

// Routes for tests, beside the package's /sendMessage, /sendCommand and /sendCallback.
app.post('/uploadFile', (req, res) => {
  const fileId = `file-${Object.keys(state.files).length + 1}`;
  state.files[fileId] = { token: req.body.token, content: Buffer.from(req.body.content, 'utf8') };
  ok(res, { file_id: fileId, file_unique_id: fileId, file_size: state.files[fileId].content.length });
});
app.post('/botMessages', (req, res) => ok(res, server.storage.botMessages
  .filter((m) => m.botToken === req.body.token && String(m.message.chat_id) === String(req.body.chatId))
  .map(asMessage)));
app.post('/callbackAnswers', (req, res) => ok(res, forToken(state.callbackAnswers, req.body.token)));
app.post('/commands', (req, res) => ok(res, state.commands[req.body.token] || []));
app.post('/webhookDeliveries', (req, res) => ok(res, forToken(state.deliveries, req.body.token)));

app.use(server.webServer);

const listener = http.createServer(app);
listener.listen(port, host, () => {
  const address = listener.address();
  console.log(`listening on http://${host}:${address.port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => listener.close(() => process.exit(0)));
