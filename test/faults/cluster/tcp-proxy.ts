import net from 'node:net';
export interface ProxyFaults {
  delayChance?: number;
  delayMs?: [number, number];
  dropChance?: number;
  resetChance?: number;
  blackhole?: boolean;
}
export interface TcpProxy {
  url: string;
  port: number;
  setFaults(p: ProxyFaults): void;
  close(): Promise<void>;
}
export async function startTcpProxy(o: {
  target: { host: string; port: number };
  rng: unknown;
  onFault?: (w: string) => void;
}): Promise<TcpProxy> {
  const socks = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const s = net.connect(o.target.port, o.target.host);
    socks.add(c);
    socks.add(s);
    c.pipe(s);
    s.pipe(c);
    c.on('error', () => s.destroy());
    s.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    setFaults() {},
    close: async () => {
      for (const s of socks) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
