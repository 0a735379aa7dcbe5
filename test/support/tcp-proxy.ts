import net from 'node:net';

/**
 * A TCP proxy in front of a server, to break what flows through it the way a network does:
 * `cutAfter` bytes sent towards the server, every connection is dropped and the proxy stops
 * listening (the server "went down"); `flipAt` bytes sent, one byte of the request is changed
 * (a part damaged in transit).
 */
export interface TcpProxy {
  port: number;
  /** Bytes that went towards the server so far. */
  sent(): number;
  /** The header blocks of the HTTP requests that went through (each up to its blank line). */
  requestHeaders(): string[];
  close(): Promise<void>;
}

export async function startTcpProxy(target: number, options: { cutAfter?: number; flipAt?: number } = {}): Promise<TcpProxy> {
  let sent = 0;
  let flipped = false;
  const headers: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      // Node writes a request's headers as one chunk, before its body.
      const head = chunk.subarray(0, 16 * 1024).toString('latin1');
      if (/^(GET|PUT|POST|HEAD|DELETE) \S+ HTTP\/1\.1\r\n/.test(head)) headers.push(head.split('\r\n\r\n')[0]!);
      if (options.cutAfter !== undefined && sent >= options.cutAfter) {
        cut();
        return;
      }
      // Only a chunk of body data is damaged (headers come in small chunks): the request still parses.
      if (options.flipAt !== undefined && !flipped && sent >= options.flipAt && chunk.length >= 4096) {
        flipped = true;
        chunk = Buffer.from(chunk);
        chunk[chunk.length >> 1] = chunk[chunk.length >> 1]! ^ 0xff;
      }
      if (!upstream.write(chunk)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
  });
  const cut = () => {
    server.close();
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    sent: () => sent,
    requestHeaders: () => [...headers],
    close: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
        if (!server.listening) resolve();
      }),
  };
}
