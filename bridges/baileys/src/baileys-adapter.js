// The production socket factory: Baileys itself (WhiskeySockets, pinned in package.json).
// Tests inject a stand-in with the same four members instead (see test/support/standin.js).

import baileys from 'baileys';
import pino from 'pino';

const { default: makeWASocket, useMultiFileAuthState, downloadMediaMessage, DisconnectReason, Browsers } = baileys;

export function baileysAdapter({ logLevel = 'warn', socketOptions = {} } = {}) {
  const logger = pino({ level: logLevel });
  return {
    DisconnectReason,
    useAuthState: (dir) => useMultiFileAuthState(dir),
    makeSocket: ({ auth }) => makeWASocket({
      auth,
      logger,
      browser: Browsers.ubuntu('mokdan'),
      markOnlineOnConnect: false,
      syncFullHistory: false,
      ...socketOptions,
    }),
    downloadMedia: (message, sock) => downloadMediaMessage(message, 'buffer', {},
      sock ? { logger, reuploadRequest: sock.updateMediaMessage } : undefined),
  };
}
