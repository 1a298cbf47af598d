// Preloaded into a spawned `sonoedge serve` (node --import) by the tests of
// errors after listen: records every net.Server that listens, and on SIGUSR2
// emits on each one that still listens the error Node emits when accept()
// fails. No fd trick makes a kernel accept error on cue (libuv absorbs
// EMFILE); the servers, their handlers and the process are the real ones.
import net from 'node:net';

const servers = new Set();
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  servers.add(this);
  return listen.apply(this, args);
};
process.on('SIGUSR2', () => {
  for (const s of servers) {
    if (s.listening) s.emit('error', Object.assign(new Error('accept ENOBUFS'), { code: 'ENOBUFS', errno: -105, syscall: 'accept' }));
  }
});
