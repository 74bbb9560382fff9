// The gateway's checks in njs. nginx.conf runs them after the rate limits and after ModSecurity:
//   key_hash     (js_set) SHA-256 of the API key presented by the client (Authorization: Bearer <key>, or
//                X-API-Key). Only this hash is compared with the key map (keys.conf); the key itself is never
//                written to disk or to a log.
//   api_request  (js_content of every API route) the key (401), its role's right to run inference (403), the
//                route's methods (405), and for a JSON body the route's field allow-list and the caps of the
//                key's RBAC role (policy.js, rendered from gateway_api_routes, gateway_request_limits and the
//                roles' limits); then the request goes on to the replicas (location @gateway_upstream).
// A refusal answers an OpenAI-style error object and names its reason in $gateway_refusal (access log); it
// never echoes a value of the request but the numbers of the capped fields.
import crypto from 'crypto';
import policy from 'policy.js';

// Structured outputs: a regular expression, grammar or JSON schema is compiled for the one request (and a slow
// one stalls the engine's scheduler while it compiles).
var STRUCTURED = ['guided_json', 'guided_regex', 'guided_choice', 'guided_grammar', 'guided_decoding_backend',
                  'guided_whitespace_pattern', 'structured_outputs'];
// Integer fields and the cap of the role that bounds each.
var CAPS = {n: 'n', best_of: 'n', max_tokens: 'max_tokens', max_completion_tokens: 'max_tokens',
            min_tokens: 'max_tokens', top_logprobs: 'top_logprobs', prompt_logprobs: 'top_logprobs'};

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

function refuse(r, status, type, message, param) {
    r.variables.gateway_refusal = message;
    r.headersOut['Content-Type'] = 'application/json';
    var error = {message: message, type: type, param: param || null, code: status};
    r.return(status, JSON.stringify({error: error}) + '\n');
}

function name_of(field) {
    // A field name chosen by the client, shortened and reduced to a safe alphabet before it is echoed or logged.
    return field.substring(0, 64).replace(/[^A-Za-z0-9_.-]/g, '?');
}

function is_int(v) {
    return typeof v === 'number' && isFinite(v) && Math.floor(v) === v;
}

function is_object(v) {
    return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// null when the body passes, else [status, type, message, param].
function check_field(name, value, limits, role) {
    var denied = 'permission_error';
    var invalid = 'invalid_request_error';
    if (STRUCTURED.indexOf(name) >= 0 && !limits.structured_outputs) {
        return [403, denied, 'structured outputs (' + name + ') are not allowed for the role ' + role, name];
    }
    if (name === 'response_format') {
        if (!is_object(value)) {
            return [400, invalid, 'response_format must be an object', name];
        }
        if (value.type !== 'text' && value.type !== 'json_object' && !limits.structured_outputs) {
            return [403, denied, 'a response_format other than text and json_object (structured outputs) '
                    + 'is not allowed for the role ' + role, name];
        }
    } else if (name === 'tool_choice') {
        if (value !== 'none' && value !== 'auto' && !limits.structured_outputs) {
            return [403, denied, 'a tool_choice other than none and auto (structured outputs) '
                    + 'is not allowed for the role ' + role, name];
        }
    } else if (name === 'chat_template') {
        if (!limits.chat_template) {
            return [403, denied, 'request chat templates are not allowed for the role ' + role, name];
        }
    } else if (name === 'chat_template_kwargs') {
        if (!is_object(value)) {
            return [400, invalid, 'chat_template_kwargs must be an object', name];
        }
        var allowed = limits.chat_template_kwargs || [];
        var kwargs = Object.keys(value);
        for (var k = 0; k < kwargs.length; k++) {
            if (allowed.indexOf(kwargs[k]) < 0) {
                return [403, denied, 'chat_template_kwargs key ' + name_of(kwargs[k])
                        + ' is not allowed for the role ' + role, name];
            }
        }
    } else if (name === 'logprobs') {
        // Chat: a boolean (top_logprobs gives the count); completions: the count itself.
        if (value !== false) {
            if (!limits.logprobs) {
                return [403, denied, 'logprobs are not allowed for the role ' + role, name];
            }
            if (value !== true && (!is_int(value) || value < 0 || value > limits.top_logprobs)) {
                return [400, invalid, 'logprobs must be true, false or an integer from 0 to '
                        + limits.top_logprobs + ' for the role ' + role, name];
            }
        }
    }
    var cap = CAPS[name];
    if (cap) {
        if (!is_int(value) || value < 0) {
            return [400, invalid, name + ' must be a non-negative integer', name];
        }
        if (cap === 'top_logprobs' && value > 0 && !limits.logprobs) {
            return [403, denied, 'logprobs are not allowed for the role ' + role, name];
        }
        if (value > limits[cap]) {
            return [400, invalid, name + '=' + value + ' is over the cap of ' + limits[cap]
                    + ' for the role ' + role, name];
        }
    }
    return null;
}

function api_request(r) {
    if (r.variables.gateway_key_id === '') {
        r.headersOut['WWW-Authenticate'] = 'Bearer realm="onprem-deepseek"';
        return refuse(r, 401, 'authentication_error', 'missing or unknown API key');
    }
    if (r.variables.gateway_key_infer !== '1') {
        return refuse(r, 403, 'permission_error', 'the role of this API key may not run inference');
    }
    var route = policy.routes[r.uri];
    if (!route) {
        return refuse(r, 404, 'not_found', 'not found');
    }
    if (route.methods.indexOf(r.method) < 0) {
        r.headersOut['Allow'] = route.methods.join(', ');
        return refuse(r, 405, 'invalid_request_error', 'method ' + r.method + ' is not allowed on ' + r.uri);
    }
    var role = r.variables.gateway_key_role;
    var limits = policy.roles[role] || policy.default_limits;
    var buffer = r.requestBuffer;
    var size = buffer ? buffer.length : 0;
    var length = r.headersIn['Content-Length'];
    var declared = (length && length !== '0') || r.headersIn['Transfer-Encoding'];
    if (!route.body) {
        if (size > 0 || declared) {
            return refuse(r, 400, 'invalid_request_error', r.uri + ' takes no request body');
        }
        return r.internalRedirect('@gateway_upstream');
    }
    if (!/^application\/json[ \t]*(?:;|$)/i.test(r.headersIn['Content-Type'] || '')) {
        return refuse(r, 415, 'invalid_request_error',
                      'the request body must be JSON (Content-Type: application/json)');
    }
    if (!buffer && declared) {
        // Written to a temporary file: larger than client_body_buffer_size (the body limit).
        return refuse(r, 413, 'invalid_request_error', 'the request body is too large');
    }
    if (limits.body_bytes && size > limits.body_bytes) {
        return refuse(r, 413, 'invalid_request_error', 'the request body (' + size + ' bytes) is over the cap of '
                      + limits.body_bytes + ' bytes for the role ' + role);
    }
    var body;
    try {
        body = JSON.parse(r.requestText);
    } catch (e) {
        return refuse(r, 400, 'invalid_request_error', 'the request body is not valid JSON');
    }
    if (!is_object(body)) {
        return refuse(r, 400, 'invalid_request_error', 'the request body must be a JSON object');
    }
    var names = Object.keys(body);
    for (var i = 0; i < names.length; i++) {
        var name = names[i];
        if (route.fields[name] !== true) {
            return refuse(r, 400, 'invalid_request_error', 'field ' + name_of(name) + ' is not accepted on ' + r.uri,
                          name_of(name));
        }
        if (body[name] === null) {
            continue;
        }
        var refusal = check_field(name, body[name], limits, role);
        if (refusal) {
            return refuse(r, refusal[0], refusal[1], refusal[2], refusal[3]);
        }
    }
    if (route.fill_max_tokens && body.max_tokens == null && body.max_completion_tokens == null) {
        body.max_tokens = limits.max_tokens;
        r.variables.gateway_body = JSON.stringify(body);
        return r.internalRedirect('@gateway_upstream_filled');
    }
    r.internalRedirect('@gateway_upstream');
}

export default {key_hash, api_request};
