import t from 'tap';
import { isHost, isLoopback, isUnspecified } from '../../src/util/is.js';

t.test('isHost takes an IPv6 address with any %zone that listen and connect take', async (t) => {
  for (const h of ['fe80::1%eth0', 'fe80::1%br_lan', 'fe80::1%wlp0s20f3', 'fe80::1%enp0s31f6.100', 'fe80::1%3', '::1%lo']) t.equal(isHost(h), true, h);
  for (const h of ['fe80::1%', 'fe80::1%br lan', 'fe80::1%a%b', 'fe80::1%a/b', '127.0.0.1%eth0', 'host%eth0', '%eth0', '10.300.0.1%eth0']) t.equal(isHost(h), false, h);
});

t.test('isHost counts a name\'s 253 characters without its final dot', async (t) => {
  const name = (n: number): string => `${'a'.repeat(63)}.`.repeat(3) + 'a'.repeat(n - 64 * 3);
  t.equal(name(253).length, 253);
  t.equal(isHost(name(253)), true, '253');
  t.equal(isHost(`${name(253)}.`), true, '253 and a final dot');
  t.equal(isHost(name(254)), false, '254');
  t.equal(isHost(`${name(254)}.`), false, '254 and a final dot');
});

t.test('isLoopback takes every spelling of a loopback host', async (t) => {
  for (const h of [
    'localhost', 'LOCALHOST', 'LocalHost', 'localhost.', 'LOCALHOST.',
    '127.0.0.1', '127.0.0.2', '127.255.255.255', '127.0.0.0',
    '::1', '0:0:0:0:0:0:0:1', '0::1', '::0:1', '::1%lo',
    '::ffff:127.0.0.1', '::ffff:127.1.2.3', '::FFFF:7f00:1', '0:0:0:0:0:ffff:127.0.0.1',
  ]) t.equal(isLoopback(h), true, h);
  for (const h of [
    'localhost..', 'localhost.localdomain', 'xlocalhost', 'localhost:80', ' localhost',
    '127.300.0.1', '127.0.0.256', '127.0.0.01', '127.0.0', '127.0.0.1.1', '0127.0.0.1',
    '128.0.0.1', '126.255.255.255', '10.0.0.1', '0.0.0.0', '::', '::2', '::ffff:128.0.0.1', '::ffff:10.0.0.1',
    '::127.0.0.1', '[::1]', '127.0.0.1%lo', '',
  ]) t.equal(isLoopback(h), false, h);
});

t.test('isUnspecified reads a zoned address by its address part', async (t) => {
  for (const h of ['0.0.0.0', '::', '::0', '0:0::0', '::ffff:0.0.0.0', '::%eth0', '::%br_lan']) t.equal(isUnspecified(h), true, h);
  for (const h of ['127.0.0.1', '::1', 'fe80::1%br_lan', 'localhost', '0.0.0.0%eth0', '']) t.equal(isUnspecified(h), false, h);
});
