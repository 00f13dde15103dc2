-- The host API Lua plugins see (`require("apisix.core")`, `ngx`), built on
-- the few primitives strait passes in `host` (src/plugin/lua/host.rs).
-- Runs once per VM; `sandbox` is the table plugin environments read from.
local host, sandbox = ...

local type, tostring, tonumber, pairs, ipairs, select, error, setmetatable, getmetatable =
    type, tostring, tonumber, pairs, ipairs, select, error, setmetatable, getmetatable
local concat, insert = table.concat, table.insert
local sfind, sformat, ssub, slower, sbyte = string.find, string.format, string.sub, string.lower, string.byte

---------------------------------------------------------------------------
-- core.json
local null = host.null
local array_mt = host.array_mt
local json = { null = null, array_mt = array_mt }

function json.encode(data, force)
    return host.json_encode(data, force and true or false)
end

function json.decode(text, opts)
    return host.json_decode(text, opts and opts.null_as_nil or false)
end

json.stably_encode = json.encode
json.canonical_encode = json.encode

function json.delay_encode(data, force)
    return setmetatable({}, { __tostring = function() return json.encode(data, force) or "" end })
end

---------------------------------------------------------------------------
-- core.log and ngx.log
local levels = { stderr = 0, emerg = 1, alert = 2, crit = 3, error = 4, warn = 5, notice = 6, info = 7, debug = 8 }

local function render(...)
    local n = select("#", ...)
    local parts = {}
    for i = 1, n do
        parts[i] = tostring((select(i, ...)))
    end
    return concat(parts)
end

local log = {}
for name, level in pairs(levels) do
    log[name] = function(...)
        if host.log_enabled(level) then
            host.log(level, render(...))
        end
    end
end

function log.new(prefix)
    local l = {}
    for name in pairs(levels) do
        l[name] = function(...) log[name](prefix, ...) end
    end
    return l
end

function log.delay_exec(fn, ...)
    local args, n = { ... }, select("#", ...)
    return setmetatable({}, { __tostring = function() return tostring(fn(unpack(args, 1, n))) end })
end

---------------------------------------------------------------------------
-- ngx
local ngx = {
    OK = 0, ERROR = -1, AGAIN = -2, DONE = -4, DECLINED = -5,
    null = null,
    STDERR = 0, EMERG = 1, ALERT = 2, CRIT = 3, ERR = 4, WARN = 5, NOTICE = 6, INFO = 7, DEBUG = 8,
    -- Method constants are numbers, as in OpenResty (ngx.req.set_method takes them).
    HTTP_GET = 2, HTTP_HEAD = 4, HTTP_POST = 8, HTTP_PUT = 16, HTTP_DELETE = 32, HTTP_MKCOL = 64,
    HTTP_COPY = 128, HTTP_MOVE = 256, HTTP_OPTIONS = 512, HTTP_PROPFIND = 1024, HTTP_PROPPATCH = 2048,
    HTTP_LOCK = 4096, HTTP_UNLOCK = 8192, HTTP_PATCH = 16384, HTTP_TRACE = 32768,
    HTTP_CONTINUE = 100, HTTP_SWITCHING_PROTOCOLS = 101,
    HTTP_OK = 200, HTTP_CREATED = 201, HTTP_ACCEPTED = 202, HTTP_NO_CONTENT = 204, HTTP_PARTIAL_CONTENT = 206,
    HTTP_SPECIAL_RESPONSE = 300, HTTP_MOVED_PERMANENTLY = 301, HTTP_MOVED_TEMPORARILY = 302,
    HTTP_SEE_OTHER = 303, HTTP_NOT_MODIFIED = 304, HTTP_TEMPORARY_REDIRECT = 307, HTTP_PERMANENT_REDIRECT = 308,
    HTTP_BAD_REQUEST = 400, HTTP_UNAUTHORIZED = 401, HTTP_PAYMENT_REQUIRED = 402, HTTP_FORBIDDEN = 403,
    HTTP_NOT_FOUND = 404, HTTP_NOT_ALLOWED = 405, HTTP_NOT_ACCEPTABLE = 406, HTTP_REQUEST_TIMEOUT = 408,
    HTTP_CONFLICT = 409, HTTP_GONE = 410, HTTP_UPGRADE_REQUIRED = 426, HTTP_TOO_MANY_REQUESTS = 429,
    HTTP_CLOSE = 444, HTTP_ILLEGAL = 451,
    HTTP_INTERNAL_SERVER_ERROR = 500, HTTP_METHOD_NOT_IMPLEMENTED = 501, HTTP_BAD_GATEWAY = 502,
    HTTP_SERVICE_UNAVAILABLE = 503, HTTP_GATEWAY_TIMEOUT = 504, HTTP_VERSION_NOT_SUPPORTED = 505,
    HTTP_INSUFFICIENT_STORAGE = 507,
}

function ngx.log(level, ...)
    if type(level) ~= "number" then
        error("bad argument #1 to 'log' (number expected)", 2)
    end
    if host.log_enabled(level) then
        host.log(level, render(...))
    end
end

ngx.time = host.time
ngx.now = host.now
ngx.update_time = function() end
ngx.md5 = host.md5
ngx.encode_base64 = host.encode_base64
ngx.decode_base64 = host.decode_base64
ngx.escape_uri = host.escape_uri
ngx.unescape_uri = host.unescape_uri
ngx.encode_args = host.encode_args
ngx.decode_args = host.decode_args
-- ngx.shared.NAME: process-wide dictionaries, created on first use.
ngx.shared = setmetatable({}, {
    __index = function(t, name)
        local dict = host.shared_dict(name)
        rawset(t, name, dict)
        return dict
    end,
})
ngx.re = { match = host.re_match, find = host.re_find, gsub = host.re_gsub, sub = host.re_sub }

function ngx.exit(code)
    host.exit(code, nil)
end

function ngx.say(...)
    host.print(render(...) .. "\n")
end

function ngx.print(...)
    host.print(render(...))
end

-- Request variables: ngx.var.x reads, ngx.var.x = v sets a variable.
local var = setmetatable({}, {
    __index = function(_, name) return host.var_get(name) end,
    __newindex = function(_, name, value) host.var_set(name, value) end,
})
ngx.var = var

ngx.req = {
    get_method = host.req_method,
    set_method = host.req_set_method,
    get_headers = function(max, raw) return host.req_headers(raw and true or false) end,
    set_header = function(name, value) host.req_set_header(name, value) end,
    clear_header = function(name) host.req_set_header(name, nil) end,
    add_header = function(name, value) host.req_add_header(name, value) end,
    get_uri_args = function() return host.req_uri_args() end,
    set_uri_args = function(args)
        if type(args) == "table" then args = host.encode_args(args) end
        host.req_set_uri_args(args)
    end,
    set_uri = function(uri) host.req_set_uri(uri) end,
    read_body = function() host.req_read_body() end,
    get_body_data = function() return host.req_body() end,
    set_body_data = function(data) host.req_set_body(data) end,
    http_version = function() return host.req_http_version() end,
    get_body_file = function() return nil end,
    discard_body = function() end,
}

ngx.resp = {
    get_headers = function() return host.resp_headers() end,
    add_header = function(name, value) host.resp_add_header(name, value) end,
}

-- Response headers: ngx.header["X"] reads and sets the response's headers.
ngx.header = setmetatable({}, {
    __index = function(_, name) return host.resp_header(name) end,
    __newindex = function(_, name, value) host.resp_set_header(name, value) end,
})

-- ngx.arg[1] (the chunk) and ngx.arg[2] (eof) in body_filter.
ngx.arg = setmetatable({}, {
    __index = function(_, i)
        if i == 1 then return host.body_chunk() elseif i == 2 then return host.body_eof() end
    end,
    __newindex = function(_, i, value)
        if i == 1 then host.body_set_chunk(value or "")
        elseif i == 2 then host.body_set_eof(value and true or false) end
    end,
})

-- Rust sets `call_state.ctx` to the running call's ctx table (ngx.ctx).
local call_state = {}

local ngx_mt = {
    __index = function(_, key)
        if key == "status" then return host.status() end
        if key == "headers_sent" then return host.headers_sent() end
        if key == "ctx" then return call_state.ctx end
        if key == "worker" then return { id = function() return 0 end, count = function() return 1 end, pid = host.pid } end
        if key == "config" then return { subsystem = "http", ngx_lua_version = 10026 } end
        return nil
    end,
    __newindex = function(t, key, value)
        if key == "status" then return host.set_status(value) end
        rawset(t, key, value)
    end,
}
setmetatable(ngx, ngx_mt)

---------------------------------------------------------------------------
-- core.request
local request = {}

function request.header(ctx, name)
    if type(ctx) == "string" then name = ctx end
    if type(name) ~= "string" then
        error("header name must be a string", 2)
    end
    return host.req_header(name)
end

function request.headers()
    return host.req_headers(false)
end

function request.set_header(ctx, name, value)
    if type(ctx) == "string" then name, value = ctx, name end
    if type(name) ~= "string" then
        error("header name must be a string", 2)
    end
    host.req_set_header(name, value)
end

function request.add_header(ctx, name, value)
    if type(ctx) == "string" then name, value = ctx, name end
    host.req_add_header(name, value)
end

function request.get_method() return host.req_method() end
function request.get_http_version() return host.req_http_version() end
function request.get_uri_args() return host.req_uri_args() end
function request.set_uri_args(ctx, args)
    if type(args) == "table" then args = host.encode_args(args) end
    host.req_set_uri_args(args or "")
end
function request.get_ip() return host.var_get("realip_remote_addr") or host.var_get("remote_addr") or "" end
function request.get_remote_client_ip() return host.var_get("remote_addr") or "" end
function request.get_remote_client_port() return tonumber(host.var_get("remote_port")) end
function request.get_scheme() return host.var_get("scheme") or "" end
function request.get_host() return host.var_get("host") or "" end
function request.get_port() return tonumber(host.var_get("server_port")) end

function request.get_body(max_size)
    local len = tonumber(host.req_header("Content-Length"))
    if max_size and len and len > max_size then
        return nil, "request size " .. len .. " is greater than the maximum size " .. max_size .. " allowed"
    end
    local body, err = host.req_body()
    if err then return nil, err end
    if body and max_size and #body > max_size then
        return nil, "request size " .. #body .. " is greater than the maximum size " .. max_size .. " allowed"
    end
    return body
end

function request.get_json_request_body_table(max_size)
    local body, err = request.get_body(max_size)
    if not body then
        return nil, { message = "could not get body: " .. (err or "request body is empty") }
    end
    local tab, derr = json.decode(body)
    if not tab then
        return nil, { message = "could not parse JSON request body: " .. derr }
    end
    return tab
end

function request.get_request_body_table(ctx, content_type, max_size)
    local body, err = request.get_body(max_size)
    if not body then return nil, "could not get body: " .. (err or "request body is empty") end
    local ct = content_type or host.req_header("Content-Type") or ""
    if sfind(ct, "application/json", 1, true) then
        local tab, derr = json.decode(body)
        if not tab then return nil, "could not parse JSON request body: " .. derr end
        return tab
    elseif sfind(ct, "application/x-www-form-urlencoded", 1, true) then
        return host.decode_args(body)
    end
    return nil, "unsupported content-type: " .. ct
end

function request.get_post_args()
    local body = host.req_body()
    if not body then return {} end
    return host.decode_args(body)
end

---------------------------------------------------------------------------
-- core.response
local response = {}

local function exit_body(...)
    local n = select("#", ...)
    if n == 0 then return nil end
    local parts = {}
    for i = 1, n do
        local v = select(i, ...)
        if type(v) == "table" then
            local s, err = json.encode(v)
            if not s then error("failed to encode data: " .. tostring(err), 3) end
            parts[#parts + 1] = s .. "\n"
        elseif v ~= nil then
            parts[#parts + 1] = tostring(v)
        end
    end
    return concat(parts)
end

function response.exit(code, ...)
    if type(code) ~= "number" then
        return host.exit(nil, exit_body(code, ...))
    end
    return host.exit(code, exit_body(...))
end

function response.say(...)
    host.print(exit_body(...) or "")
end

local function header_args(adder, ...)
    local first = ...
    if type(first) == "table" then
        for k, v in pairs(first) do adder(k, v) end
        return
    end
    local n = select("#", ...)
    if n == 1 then
        adder(first, nil)
        return
    end
    for i = 1, n, 2 do
        local k, v = select(i, ...)
        adder(k, v)
    end
end

function response.set_header(...)
    if host.headers_sent() then error("headers have already been sent", 2) end
    header_args(host.resp_set_header, ...)
end

function response.add_header(...)
    if host.headers_sent() then error("headers have already been sent", 2) end
    header_args(host.resp_add_header, ...)
end

function response.get_upstream_status()
    local s = host.var_get("upstream_status")
    return s and tonumber(ssub(s, -3))
end

function response.clear_header_as_body_modified()
    host.resp_set_header("Content-Length", nil)
    host.resp_set_header("Content-Encoding", nil)
    host.resp_set_header("Last-Modified", nil)
    host.resp_set_header("ETag", nil)
end

function response.hold_body_chunk(ctx, hold_the_copy)
    local key = "_body_buffer"
    local chunk, eof = host.body_chunk(), host.body_eof()
    local buf = ctx[key] or {}
    ctx[key] = buf
    if chunk and chunk ~= "" then buf[#buf + 1] = chunk end
    if eof then
        ctx[key] = nil
        return concat(buf)
    end
    if not hold_the_copy then host.body_set_chunk("") end
    return nil
end

---------------------------------------------------------------------------
-- core.table, core.string, core.utils, core.schema
local ctable = setmetatable({}, { __index = table })

function ctable.new(narr, nrec) return {} end
function ctable.clear(t) for k in pairs(t) do t[k] = nil end end
function ctable.nkeys(t) local n = 0 for _ in pairs(t) do n = n + 1 end return n end
function ctable.isempty(t) return next(t) == nil end
function ctable.isarray(t)
    local n = 0
    for k in pairs(t) do
        if type(k) ~= "number" then return false end
        n = n + 1
    end
    return n == #t
end
function ctable.clone(t) local c = {} for k, v in pairs(t) do c[k] = v end return setmetatable(c, getmetatable(t)) end
function ctable.insert_tail(t, ...)
    local n = #t
    for i = 1, select("#", ...) do t[n + i] = select(i, ...) end
    return n + select("#", ...)
end
function ctable.set(t, ...) for i = 1, select("#", ...) do t[i] = select(i, ...) end end
function ctable.try_read_attr(t, ...)
    local v = t
    for i = 1, select("#", ...) do
        if type(v) ~= "table" then return nil end
        v = v[select(i, ...)]
    end
    return v
end
function ctable.array_find(arr, val)
    for i, v in ipairs(arr) do if v == val then return i end end
    return nil
end
local function deepcopy(v, seen)
    if type(v) ~= "table" then return v end
    if seen[v] then return seen[v] end
    local c = {}
    seen[v] = c
    for k, x in pairs(v) do c[deepcopy(k, seen)] = deepcopy(x, seen) end
    return setmetatable(c, getmetatable(v))
end
function ctable.deepcopy(t) return deepcopy(t, {}) end
function ctable.merge(origin, extend)
    for k, v in pairs(extend) do
        if type(v) == "table" and type(origin[k]) == "table" and not ctable.isarray(v) then
            ctable.merge(origin[k], v)
        elseif v == null then
            origin[k] = nil
        else
            origin[k] = v
        end
    end
    return origin
end
local function deep_eq(a, b)
    if type(a) ~= "table" or type(b) ~= "table" then return a == b end
    for k, v in pairs(a) do if not deep_eq(v, b[k]) then return false end end
    for k in pairs(b) do if a[k] == nil then return false end end
    return true
end
ctable.deep_eq = deep_eq
function ctable.pick(obj, attrs)
    local out = {}
    for k, v in pairs(obj) do if attrs[k] then out[k] = v end end
    return out
end

local cstring = setmetatable({}, { __index = string })
function cstring.find(haystack, needle, from)
    return sfind(haystack, needle, from or 1, true)
end
function cstring.has_prefix(s, prefix)
    if type(s) ~= "string" or type(prefix) ~= "string" then error("unexpected type", 2) end
    return ssub(s, 1, #prefix) == prefix
end
function cstring.has_suffix(s, suffix)
    if type(s) ~= "string" or type(suffix) ~= "string" then error("unexpected type", 2) end
    return suffix == "" or ssub(s, -#suffix) == suffix
end
function cstring.rfind_char(s, ch, idx)
    local b = sbyte(ch)
    for i = idx or #s, 1, -1 do
        if sbyte(s, i) == b then return i end
    end
    return nil
end
cstring.decode_args = function(s) return host.decode_args(s) end
cstring.encode_args = function(t) return host.encode_args(t) end

local utils = {}
function utils.split_uri(uri)
    local out = {}
    for part in (uri .. "/"):gmatch("([^/]*)/") do out[#out + 1] = part end
    return out
end
function utils.parse_addr(addr)
    local host6, port6 = addr:match("^%[(.+)%]:(%d+)$")
    if host6 then return host6, tonumber(port6) end
    local h, p = addr:match("^([^:]+):(%d+)$")
    if h then return h, tonumber(p) end
    return addr, nil
end
function utils.resolve_var(tpl, vars)
    vars = vars or var
    local n = 0
    local res = tpl:gsub("%$%{?([%w_]+)%}?", function(name)
        n = n + 1
        local v = vars[name]
        return v ~= nil and tostring(v) or ""
    end)
    return res, nil, n
end
utils.uri_safe_encode = function(s) return host.escape_uri(s) end
utils.gethostname = function() return host.hostname() end
utils.check_https = function() end
utils.check_tls_bool = function() end

local schema = { TYPE_CONSUMER = 1, TYPE_METADATA = 2 }
function schema.check(s, conf)
    local ok, err, filled = host.schema_check(s, conf)
    if ok and type(filled) == "table" and type(conf) == "table" then
        for k, v in pairs(filled) do
            if conf[k] == nil then conf[k] = v end
        end
    end
    return ok, err
end

local core = {
    version = { VERSION = "3.18.0" },
    json = json, log = log, request = request, response = response,
    table = ctable, string = cstring, utils = utils, schema = schema,
    sleep = function() error("core.sleep is not supported: phases must not block", 2) end,
}

---------------------------------------------------------------------------
-- require: the host modules, then plugin-directory modules.
-- strait's LLM hooks (see lua-plugins/README.md).
local llm = {
    get_request = function() return host.llm_request() end,
    set_request = function(_, req) return host.llm_set_request(req) end,
    usage = function() return host.llm_usage() end,
}

local builtin_modules = {
    ["strait.llm"] = llm,
    ["apisix.core"] = core,
    ["apisix.core.json"] = json,
    ["apisix.core.log"] = log,
    ["apisix.core.request"] = request,
    ["apisix.core.response"] = response,
    ["apisix.core.table"] = ctable,
    ["apisix.core.string"] = cstring,
    ["apisix.core.utils"] = utils,
    ["apisix.core.schema"] = schema,
    ["cjson"] = json,
    ["cjson.safe"] = json,
    ["ngx.re"] = ngx.re,
}
local loaded = {}

function sandbox.require(name)
    if type(name) ~= "string" then error("bad argument #1 to 'require' (string expected)", 2) end
    local m = builtin_modules[name] or loaded[name]
    if m ~= nil then return m end
    local value = host.require_file(name)
    loaded[name] = value
    return value
end

-- The metatable of the `ctx` table each phase receives: `ctx.var` and what
-- APISIX keeps in its api_ctx, read on demand.
local ctx_mt = {
    __index = function(_, key)
        if key == "var" then return var end
        if key == "consumer" then
            local name = host.var_get("consumer_name")
            return name and { username = name, consumer_name = name, group_id = host.var_get("consumer_group_id") }
        end
        if key == "route_id" or key == "service_id" or key == "consumer_name" or key == "consumer_group_id" then
            return host.var_get(key)
        end
        if key == "conf_type" then return host.var_get("route_id") and "route" or nil end
        return nil
    end,
}

-- How strait calls a phase function: one call from Rust that builds the
-- request's ctx table (with `carried`, what earlier phases left in it), makes
-- it `ngx.ctx`, and returns it (nil when empty) before the phase's results.
local function finish(ctx, ...)
    call_state.ctx = nil
    if next(ctx) == nil then
        return nil, ...
    end
    return ctx, ...
end

local function call_phase(fn, conf, carried)
    local ctx = setmetatable({}, ctx_mt)
    if carried then
        for k, v in pairs(carried) do ctx[k] = v end
    end
    call_state.ctx = ctx
    return finish(ctx, fn(conf, ctx))
end

-- Forget the required modules (their files changed): the next require reads them again.
local function forget_required()
    loaded = {}
end

sandbox.ngx = ngx
return core, ngx, call_phase, forget_required
