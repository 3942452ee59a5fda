// The model provider for bench/proxy: OpenAI Chat Completions answers after DELAY_MS, as one
// JSON body or as SSE (three content chunks, a usage chunk, [DONE], sent chunked as providers
// do). Prints {"port":N}.
//
// It speaks HTTP/1.1 straight over node:net with answers built once, not through node:http: the
// stand-in shares this machine's cores with the proxy under test, where a real provider is
// remote and costs the proxy's host nothing, so it should take as little CPU as it can. Requests
// must carry a Content-Length; anything else is answered 400 and the connection is closed, so
// a client the stand-in does not understand shows up as a failure, never as a fast answer.
import net from 'node:net';

const delay = Number(process.env.DELAY_MS || 0);
const HEAD_BYTES_MAX = 16 * 1024;
const BODY_BYTES_MAX = 1024 * 1024;

const completion = JSON.stringify({
  id: 'chatcmpl-bench', object: 'chat.completion', model: 'bench',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there, this is the answer.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 },
});
const chunk = (delta, finish = null) => `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', model: 'bench', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
const stream = chunk({ role: 'assistant', content: 'Hello ' }) + chunk({ content: 'there, ' }) + chunk({ content: 'this is the answer.' })
  + chunk({}, 'stop') + `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 12, completion_tokens: 8 } })}\n\ndata: [DONE]\n\n`;

const plainAnswer = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n'
  + `content-length: ${Buffer.byteLength(completion)}\r\n\r\n${completion}`);
const streamAnswer = Buffer.from('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n'
  + `${Buffer.byteLength(stream).toString(16)}\r\n${stream}\r\n0\r\n\r\n`);
const refusal = (why) => Buffer.from(`HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(why)}\r\nconnection: close\r\n\r\n${why}`);

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  let pending = Buffer.alloc(0);
  const refuse = (why) => {
    console.error(`upstream: refused a request: ${why}`);
    socket.end(refusal(why));
    socket.removeAllListeners('data');
  };
  socket.on('data', (data) => {
    pending = pending.length ? Buffer.concat([pending, data]) : data;
    while (pending.length) {
      const headEnd = pending.indexOf('\r\n\r\n');
      if (headEnd < 0) {
        if (pending.length > HEAD_BYTES_MAX) refuse('request head too large');
        return;
      }
      const head = pending.toString('latin1', 0, headEnd).toLowerCase();
      if (head.includes('\r\ntransfer-encoding:')) return refuse('only Content-Length bodies are supported');
      const length = /\r\ncontent-length: *(\d+)/.exec(head);
      if (!length || Number(length[1]) > BODY_BYTES_MAX) return refuse('a Content-Length up to 1 MiB is required');
      const end = headEnd + 4 + Number(length[1]);
      if (pending.length < end) return;
      const flag = pending.indexOf('"stream":true', headEnd);
      const streaming = flag !== -1 && flag < end;
      const closing = head.includes('\r\nconnection: close');
      pending = pending.subarray(end);
      const answer = () => (closing ? socket.end(streaming ? streamAnswer : plainAnswer) : socket.write(streaming ? streamAnswer : plainAnswer));
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    }
  });
  socket.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
