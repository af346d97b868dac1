// An SMSC on the npm `smpp` package, for the SMPP client channel's tests.
//
//   node tests/peers/smsc.cjs [--system-id ID] [--password PW] [--account ID:PW]...
//                             [--receipt-delay MS] [--quiet-submits]
//
// Binds are accepted for ID/PW (default smsgate/secret) and each --account; otherwise
// ESME_RINVSYSID or ESME_RINVPASWD. Listens on 127.0.0.1 on a port the OS picks, prints
// {"ready": true, "port": N}, then one JSON event per line on stdout:
//   connect, bind, submit (every field; short_message and binary TLVs in hex), receipt,
//   deliver_sm_resp (kind "receipt" or "mo"), enquire_link, enquire_link_resp, unbind, closed.
// It reads one JSON command per line on stdin, each answered with {"ok": true, "cmd": ...,
// "id": ...} (the "id" echoed when given; {"ok": false, "error": ...} for a bad command):
//   mo {source, destination, text | hex, data_coding, udh, payload, esm_class, session, ref}
//     (text is encoded by the package: GSM 03.38 unpacked for data_coding 0, UCS-2 for 8)
//   receipt_mode {stat, err, message_state}   receipt_delay {ms}   receipt_before_resp {on}
//   reject {status, count}   silent {on}   hold {count}   release   close   unbind
//   enquire_link   stats
// Receipts and MOs wait for a receiver or transceiver bind of their system_id; a deliver_sm
// left unanswered when its session closes is sent again on the next such bind.
// --quiet-submits keeps only counters for submits, receipts and enquire_links.
// Short messages are read and sent as raw bytes: the package's text filters are removed.
// Exits when stdin closes.
'use strict';
const smpp = require('smpp');
const iconv = require('iconv-lite');
const readline = require('readline');

const opts = { systemId: 'smsgate', password: 'secret', accounts: {}, delay: 0, quiet: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i];
  if (arg === '--system-id') opts.systemId = argv[++i];
  else if (arg === '--password') opts.password = argv[++i];
  else if (arg === '--account') {
    const [id, ...pw] = argv[++i].split(':');
    opts.accounts[id] = pw.join(':');
  } else if (arg === '--receipt-delay') opts.delay = Number(argv[++i]);
  else if (arg === '--quiet-submits') opts.quiet = true;
  else { process.stderr.write(`unknown option ${arg}\n`); process.exit(2); }
}
const accounts = { [opts.systemId]: opts.password, ...opts.accounts };

for (const command of ['submit_sm', 'deliver_sm']) {
  for (const param of Object.values(smpp.commands[command].params)) delete param.filter;
}
delete smpp.tlvs.message_payload.filter;

const STATES = { ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6,
  UNKNOWN: 7, REJECTD: 8 };
const BINDS = ['bind_transmitter', 'bind_receiver', 'bind_transceiver'];
const stats = { submits: 0, rejected: 0, dropped: 0, receipts: 0, receipts_acked: 0, mo: 0,
  binds: 0, enquire_links: 0, redelivered: 0 };
const mode = { stat: 'DELIVRD', err: '000', state: 2, delay: opts.delay, before: false,
  reject: 0, rejectStatus: 0, silent: false, hold: 0 };
const held = [];
const pending = {};  // system_id -> deliver_sm items waiting for a receiver
let sessionCount = 0;
let messageCount = 0xa0000000;

const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');
const nextId = () => (++messageCount).toString(16);
const stamp = (date) => date.toISOString().replace(/[-T:]/g, '').slice(2, 12);

function valueOf(value) {
  return Buffer.isBuffer(value) ? value.toString('hex') : value;
}

function submitEvent(session, pdu, messageId) {
  const event = { event: 'submit', session: session.n, message_id: messageId, command_status: 0 };
  for (const key of ['sequence_number', 'service_type', 'source_addr', 'source_addr_ton',
    'source_addr_npi', 'destination_addr', 'dest_addr_ton', 'dest_addr_npi', 'esm_class',
    'protocol_id', 'priority_flag', 'schedule_delivery_time', 'validity_period',
    'registered_delivery', 'data_coding']) event[key] = pdu[key];
  event.short_message = pdu.short_message.toString('hex');
  for (const key of Object.keys(pdu)) {
    if (key in smpp.tlvs) event[key] = valueOf(pdu[key]);
    else if (/^\d+$/.test(key)) event['tlv_0x' + Number(key).toString(16).padStart(4, '0')] =
      valueOf(pdu[key]);
  }
  return event;
}

function receiptText(pdu) {
  let body = pdu.short_message.length ? pdu.short_message : pdu.message_payload || Buffer.alloc(0);
  if (pdu.esm_class & 0x40 && body.length) body = body.slice(body[0] + 1);
  const text = pdu.data_coding === 8 ? iconv.decode(body, 'utf16-be') : body.toString('latin1');
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 20);
}

function receiptItem(session, pdu, messageId) {
  const now = new Date();
  const text = `id:${messageId} sub:001 dlvrd:${mode.stat === 'DELIVRD' ? '001' : '000'} ` +
    `submit date:${stamp(now)} done date:${stamp(now)} stat:${mode.stat} err:${mode.err} ` +
    `text:${receiptText(pdu)}`;
  return {
    kind: 'receipt', systemId: session.systemId, prefer: session, messageId, stat: mode.stat,
    fields: {
      source_addr_ton: pdu.dest_addr_ton, source_addr_npi: pdu.dest_addr_npi,
      source_addr: pdu.destination_addr, dest_addr_ton: pdu.source_addr_ton,
      dest_addr_npi: pdu.source_addr_npi, destination_addr: pdu.source_addr,
      esm_class: 0x04, data_coding: 0, short_message: Buffer.from(text, 'ascii'),
      receipted_message_id: messageId, message_state: mode.state,
    },
  };
}

function receiverFor(item) {
  const fits = (s) => s.bound && s.bound !== 'bind_transmitter' && s.systemId === item.systemId
    && s.socket.writable;
  if (item.prefer && fits(item.prefer)) return item.prefer;
  return server.sessions.find(fits);
}

function deliver(item) {
  const session = receiverFor(item);
  if (!session) {
    (pending[item.systemId] = pending[item.systemId] || []).push(item);
    return null;
  }
  const pdu = new smpp.PDU('deliver_sm', { ...item.fields });
  session.send(pdu, (resp) => {
    session.outstanding.delete(pdu.sequence_number);
    if (item.kind === 'receipt') stats.receipts_acked++;
    if (item.kind === 'receipt' && opts.quiet) return;
    emit({ event: 'deliver_sm_resp', kind: item.kind, session: session.n,
      sequence_number: pdu.sequence_number, command_status: resp.command_status,
      message_id: item.messageId, ref: item.ref });
  });
  session.outstanding.set(pdu.sequence_number, item);
  if (item.kind === 'receipt') {
    stats.receipts++;
    if (!opts.quiet) emit({ event: 'receipt', session: session.n, message_id: item.messageId,
      sequence_number: pdu.sequence_number, stat: item.stat,
      message_state: item.fields.message_state });
  }
  return { session: session.n, sequence_number: pdu.sequence_number };
}

function wantsReceipt(pdu) {
  const asked = pdu.registered_delivery & 0x03;
  return asked === 1 || (asked === 2 && mode.stat !== 'DELIVRD');
}

function answer(session, pdu, messageId) {
  const resp = pdu.response({ message_id: messageId });
  if (!wantsReceipt(pdu)) { session.send(resp); return; }
  const item = receiptItem(session, pdu, messageId);
  if (mode.before) {
    deliver(item);
    setTimeout(() => session.send(resp), 50);
    return;
  }
  session.send(resp);
  if (mode.delay > 0) setTimeout(() => deliver(item), mode.delay);
  else setImmediate(() => deliver(item));
}

function onSubmit(session, pdu) {
  stats.submits++;
  if (session.bound !== 'bind_transmitter' && session.bound !== 'bind_transceiver') {
    session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
    return;
  }
  if (mode.silent) {
    stats.dropped++;
    if (!opts.quiet) emit({ ...submitEvent(session, pdu, null), dropped: true });
    return;
  }
  if (mode.reject > 0) {
    mode.reject--;
    stats.rejected++;
    session.send(pdu.response({ command_status: mode.rejectStatus }));
    if (!opts.quiet) emit({ ...submitEvent(session, pdu, null), command_status: mode.rejectStatus });
    return;
  }
  const messageId = nextId();
  if (mode.hold > 0) {
    mode.hold--;
    held.push([session, pdu, messageId]);
    if (!opts.quiet) emit({ ...submitEvent(session, pdu, messageId), held: true });
    return;
  }
  if (!opts.quiet) emit(submitEvent(session, pdu, messageId));
  answer(session, pdu, messageId);
}

function onBind(session, pdu) {
  let status = 0;
  if (session.bound) status = smpp.ESME_RALYBND;
  else if (!(pdu.system_id in accounts)) status = smpp.ESME_RINVSYSID;
  else if (accounts[pdu.system_id] !== pdu.password) status = smpp.ESME_RINVPASWD;
  session.send(status ? pdu.response({ command_status: status })
    : pdu.response({ system_id: 'smsc', sc_interface_version: 0x34 }));
  emit({ event: 'bind', command: pdu.command, system_id: pdu.system_id, session: session.n,
    command_status: status });
  if (status) return;
  stats.binds++;
  session.bound = pdu.command;
  session.systemId = pdu.system_id;
  if (pdu.command !== 'bind_transmitter') {
    const waiting = pending[pdu.system_id] || [];
    delete pending[pdu.system_id];
    waiting.forEach(deliver);
  }
}

function onPdu(session, pdu) {
  if (pdu.isResponse()) return;
  if (mode.silent && pdu.command !== 'submit_sm') return;
  if (pdu.command === 'submit_sm') onSubmit(session, pdu);
  else if (BINDS.includes(pdu.command)) onBind(session, pdu);
  else if (pdu.command === 'enquire_link') {
    stats.enquire_links++;
    session.send(pdu.response());
    if (!opts.quiet) emit({ event: 'enquire_link', session: session.n });
  } else if (pdu.command === 'unbind') {
    emit({ event: 'unbind', session: session.n });
    session.bound = null;
    session.send(pdu.response(), () => session.close());
  } else if (pdu.command === 'unknown') session.send(pdu.response());
  else session.send(pdu.response({ command_status: smpp.ESME_RINVCMDID }));
}

const server = smpp.createServer((session) => {
  session.n = ++sessionCount;
  session.bound = null;
  session.outstanding = new Map();
  session.socket.setNoDelay(true);
  emit({ event: 'connect', session: session.n });
  session.on('pdu', (pdu) => onPdu(session, pdu));
  session.on('error', (err) => {
    process.stderr.write(`session ${session.n}: ${err}\n`);
    session.destroy();
  });
  session.on('close', () => {
    for (const item of session.outstanding.values()) {
      stats.redelivered++;
      (pending[item.systemId] = pending[item.systemId] || []).push(item);
    }
    session.outstanding.clear();
    emit({ event: 'closed', session: session.n });
  });
});
server.on('error', (err) => { process.stderr.write(`server: ${err}\n`); process.exit(1); });

function mo(cmd) {
  const dc = cmd.data_coding || 0;
  let body = cmd.hex !== undefined ? Buffer.from(cmd.hex, 'hex')
    : dc === 8 ? iconv.encode(cmd.text, 'utf16-be')
      : dc === 0 ? smpp.gsmCoder.encode(cmd.text, 0) : Buffer.from(cmd.text, 'latin1');
  let esm = cmd.esm_class || 0;
  if (cmd.udh) {
    body = Buffer.concat([Buffer.from(cmd.udh, 'hex'), body]);
    esm |= 0x40;
  }
  const fields = {
    source_addr_ton: cmd.source_ton ?? 1, source_addr_npi: cmd.source_npi ?? 1,
    source_addr: cmd.source, dest_addr_ton: cmd.destination_ton ?? 0,
    dest_addr_npi: cmd.destination_npi ?? 1, destination_addr: cmd.destination,
    esm_class: esm, data_coding: dc, short_message: cmd.payload ? Buffer.alloc(0) : body,
  };
  if (cmd.payload) fields.message_payload = body;
  const systemId = cmd.system_id || opts.systemId;
  const prefer = server.sessions.find((s) => s.n === cmd.session);
  stats.mo++;
  const sent = deliver({ kind: 'mo', systemId, prefer, ref: cmd.ref, fields });
  return sent || { queued: true };
}

const commands = {
  mo,
  receipt_mode(cmd) {
    mode.stat = cmd.stat || 'DELIVRD';
    mode.err = cmd.err || '000';
    mode.state = cmd.message_state ?? STATES[mode.stat] ?? 7;
  },
  receipt_delay(cmd) { mode.delay = cmd.ms; },
  receipt_before_resp(cmd) { mode.before = !!cmd.on; },
  reject(cmd) { mode.rejectStatus = cmd.status; mode.reject = cmd.count ?? 1; },
  silent(cmd) { mode.silent = !!cmd.on; },
  hold(cmd) { mode.hold = cmd.count ?? 1; },
  release() {
    const items = held.splice(0).filter(([session]) => session.socket.writable);
    mode.hold = 0;
    items.forEach(([session, pdu, messageId]) => answer(session, pdu, messageId));
    return { released: items.length };
  },
  close() {
    const sessions = server.sessions.slice();
    sessions.forEach((s) => s.destroy());
    return { closed: sessions.length };
  },
  unbind() {
    const sessions = server.sessions.filter((s) => s.bound);
    sessions.forEach((s) => s.unbind(() => s.close()));
    return { unbound: sessions.length };
  },
  enquire_link() {
    const sessions = server.sessions.filter((s) => s.bound);
    sessions.forEach((s) => s.enquire_link(() => emit({ event: 'enquire_link_resp',
      session: s.n })));
    return { sent: sessions.length };
  },
  stats() {
    return { event: 'stats', ...stats, sessions: server.sessions.length,
      bound: server.sessions.filter((s) => s.bound).length, held: held.length,
      pending: Object.values(pending).reduce((n, items) => n + items.length, 0) };
  },
};

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let cmd = {};
  try {
    cmd = JSON.parse(line);
    const run = commands[cmd.cmd];
    if (!run) throw new Error(`unknown command ${cmd.cmd}`);
    emit({ ok: true, cmd: cmd.cmd, id: cmd.id, ...run(cmd) });
  } catch (err) {
    emit({ ok: false, cmd: cmd.cmd, id: cmd.id, error: String(err) });
  }
});
rl.on('close', () => process.exit(0));

server.listen(0, '127.0.0.1', () => emit({ ready: true, port: server.address().port }));
