-- ai-prompt-guard (APISIX's name, priority and schema): rejects a chat
-- request whose prompt matches none of `allow_patterns` or any of
-- `deny_patterns` (regular expressions). By default only the user messages
-- of the last turn are checked; `match_all_roles` adds the other roles and
-- `match_all_conversation_history` every earlier message. A request that
-- is not an AI request is handled by `fail_mode`.

local core = require("apisix.core")
local protocols = require("apisix.plugins.ai-protocols")
local binding = require("apisix.plugins.ai-protocols.binding")

local plugin_name = "ai-prompt-guard"

local schema = {
    type = "object",
    properties = {
        max_req_body_size = protocols.max_req_body_size_schema,
        match_all_roles = { type = "boolean", default = false },
        match_all_conversation_history = { type = "boolean", default = false },
        allow_patterns = { type = "array", items = { type = "string" }, default = {} },
        deny_patterns = { type = "array", items = { type = "string" }, default = {} },
        fail_mode = binding.schema_property("skip"),
    },
}

local _M = {
    version = 0.1,
    priority = 1072,
    name = plugin_name,
    schema = schema,
}

local function check_patterns(patterns, kind)
    for _, pattern in ipairs(patterns) do
        local ok, err = pcall(ngx.re.find, "", pattern, "jou")
        if not ok then
            return false, "invalid " .. kind .. ": " .. pattern .. ": " .. tostring(err)
        end
    end
    return true
end

function _M.check_schema(conf)
    local ok, err = core.schema.check(schema, conf)
    if not ok then
        return false, err
    end
    ok, err = check_patterns(conf.allow_patterns, "allow_pattern")
    if not ok then
        return false, err
    end
    return check_patterns(conf.deny_patterns, "deny_pattern")
end

-- The text the patterns are matched against, and how many messages it joins.
local function prompt_text(conf, messages)
    if not conf.match_all_conversation_history then
        messages = { messages[#messages] }
    end
    local texts = {}
    for _, msg in ipairs(messages) do
        if conf.match_all_roles or msg.role == "user" then
            texts[#texts + 1] = msg.content
        end
    end
    return table.concat(texts, " "), #texts
end

local function unsupported(conf, reason)
    local reject, code, body = binding.on_unsupported(conf.fail_mode, plugin_name, reason,
        400, { message = "Request format not recognized by ai-prompt-guard" })
    if reject then
        return code, body
    end
end

function _M.access(conf, ctx)
    local raw, err = core.request.get_body(conf.max_req_body_size)
    if not raw then
        if err then
            return 400, { message = "could not get body: " .. err }
        end
        return unsupported(conf, "the request has no body")
    end
    local body, derr = core.json.decode(raw)
    if type(body) ~= "table" then
        return unsupported(conf, "request body is not valid JSON: " .. tostring(derr))
    end
    local proto, perr = protocols.detect(body, ctx)
    if proto ~= "openai-chat" and proto ~= "anthropic-messages" then
        return unsupported(conf, perr or ("no prompt in a " .. proto .. " request"))
    end

    local text, count = prompt_text(conf, protocols.get_messages(body, ctx))
    if count == 0 then
        return -- nothing to check (e.g. the last turn is the assistant's)
    end
    if #conf.allow_patterns > 0 then
        local allowed = false
        for _, pattern in ipairs(conf.allow_patterns) do
            if ngx.re.find(text, pattern, "jou") then
                allowed = true
                break
            end
        end
        if not allowed then
            return 400, { message = "Request doesn't match allow patterns" }
        end
    end
    for _, pattern in ipairs(conf.deny_patterns) do
        if ngx.re.find(text, pattern, "jou") then
            return 400, { message = "Request contains prohibited content" }
        end
    end
end

return _M
