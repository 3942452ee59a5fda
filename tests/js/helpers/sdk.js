// Loads the built @tollgate/sdk (CommonJS build) and the HMAC signer the server uses.
const crypto = require('node:crypto');

const sdk = require('@tollgate/sdk');

function hmacSigner(keyHex) {
  const key = Buffer.from(keyHex, 'hex');
  return (input) => new Uint8Array(crypto.createHmac('sha256', key).update(input).digest());
}

module.exports = { sdk, hmacSigner };
