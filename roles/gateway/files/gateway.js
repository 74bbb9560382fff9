// SHA-256 of the API key presented by the client (Authorization: Bearer <key>, or X-API-Key).
// Only this hash is compared with the key map and used as the rate-limit key; the key itself is
// never written to disk or to a log.
var crypto = require('crypto');

function key_hash(r) {
    var key = '';
    var auth = r.headersIn['Authorization'];
    if (auth) {
        var m = /^Bearer[ \t]+([^ \t]+)[ \t]*$/i.exec(auth);
        if (m) {
            key = m[1];
        }
    } else if (r.headersIn['X-API-Key']) {
        key = r.headersIn['X-API-Key'];
    }
    if (key === '') {
        return '';
    }
    return crypto.createHash('sha256').update(key).digest('hex');
}

export default {key_hash};
