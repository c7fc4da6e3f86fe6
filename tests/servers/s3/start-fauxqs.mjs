// Starts fauxqs (AWS S3 emulator) on 127.0.0.1 only. fauxqs's startFauxqs() listens on 0.0.0.0 whatever
// host it is given, so net.Server.listen is patched to force the loopback address before it starts.
// Usage: node start-fauxqs.mjs <port> <storage-dir>
import net from "node:net";
import { startFauxqs } from "fauxqs";

const [portText, storageDir] = process.argv.slice(2);
const port = Number(portText);
if (!Number.isInteger(port) || port <= 0 || !storageDir) {
  console.error("usage: node start-fauxqs.mjs <port> <storage-dir>");
  process.exit(2);
}

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args[0] !== null && typeof args[0] === "object") {
    args[0] = { ...args[0], host: "127.0.0.1" };
  } else if (typeof args[0] === "number" || typeof args[0] === "string") {
    const callback = args.find((a) => typeof a === "function");
    args = callback ? [args[0], "127.0.0.1", callback] : [args[0], "127.0.0.1"];
  }
  return listen.apply(this, args);
};

const server = await startFauxqs({ port, s3StorageDir: storageDir, logger: false });
const stop = async () => {
  await server.stop?.();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
console.log(`fauxqs listening on http://127.0.0.1:${port}`);
