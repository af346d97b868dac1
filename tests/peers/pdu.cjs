// Drive node-pdu for the test suite: one JSON request per line on stdin, one answer per line.
//   {"op": "submit", "to": "+44…", "text": "…"}  ->  {"parts": ["hex", …]}
//   {"op": "parse", "pdu": "hex"}                ->  {"text": "…", "ref": n, "seq": n, "total": n}
const pdu = require('node-pdu');
const readline = require('readline');
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const req = JSON.parse(line);
  let out;
  try {
    if (req.op === 'submit') {
      out = { parts: new pdu.Submit(req.to, req.text).getPartStrings() };
    } else {
      const msg = pdu.parse(req.pdu);
      const header = msg.data.parts[0].header;
      out = { text: msg.data.getText() };
      if (header) {
        out.ref = header.getPointer();
        out.seq = header.getCurrent();
        out.total = header.getSegments();
      }
    }
  } catch (err) {
    out = { error: String(err) };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
});
