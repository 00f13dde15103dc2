-- AI request protocols as the prompt plugins see them (APISIX's module name,
-- `require("apisix.plugins.ai-protocols")`): which protocol a decoded request
-- body speaks, its messages as plain text, and adding messages to it.
--
-- Protocols: "anthropic-messages" (a path ending in /v1/messages),
-- "openai-chat" (a `messages` array), "openai-embeddings" (an `input`
-- field), else none.

local _M = {}

-- Schema pieces the prompt plugins share: a list of `{role, content}`
-- messages (at least `min_items`), and `max_req_body_size`.
function _M.messages_schema(min_items)
    return {
        type = "array",
        minItems = min_items,
        items = {
            type = "object",
            properties = {
                role = { type = "string", enum = { "system", "user", "assistant" } },
                content = { type = "string", minLength = 1 },
            },
            required = { "role", "content" },
        },
    }
end

_M.max_req_body_size_schema = {
    type = "integer",
    minimum = 1,
    default = 67108864,
    description = "largest request body read, in bytes",
}

local function ends_with(s, suffix)
    return type(s) == "string" and s:sub(-#suffix) == suffix
end

function _M.detect(body, ctx)
    if type(body) ~= "table" then
        return nil, "the request body is not a JSON object"
    end
    local uri = ctx and ctx.var and ctx.var.uri
    if ends_with(uri, "/v1/messages") then
        return "anthropic-messages"
    end
    if type(body.messages) == "table" then
        return "openai-chat"
    end
    if body.input ~= nil then
        return "openai-embeddings"
    end
    return nil, "unsupported request format: no protocol matched"
end

-- The text of one message's content: a string, or the text parts of an
-- array of parts (OpenAI `{type="text", text=...}`, Anthropic the same).
local function content_text(content)
    if type(content) == "string" then
        return content
    end
    if type(content) ~= "table" then
        return nil
    end
    local texts = {}
    for _, part in ipairs(content) do
        if type(part) == "table" and part.type == "text" and type(part.text) == "string" then
            texts[#texts + 1] = part.text
        end
    end
    if #texts == 0 then
        return nil
    end
    return table.concat(texts, " ")
end
_M.content_text = content_text

-- Messages as `{role, content}` with text content; Anthropic's top-level
-- `system` comes first with role "system".
function _M.get_messages(body, ctx)
    local proto = _M.detect(body, ctx)
    local out = {}
    if proto == "anthropic-messages" then
        local system = content_text(body.system)
        if system then
            out[#out + 1] = { role = "system", content = system }
        end
    elseif proto ~= "openai-chat" then
        return out
    end
    if type(body.messages) == "table" then
        for _, msg in ipairs(body.messages) do
            local text = type(msg) == "table" and content_text(msg.content)
            if text then
                out[#out + 1] = { role = msg.role, content = text }
            end
        end
    end
    return out
end

-- Anthropic keeps system prompts in `system` (a string or text blocks),
-- never in `messages`: add `text` before or after what is there.
local function add_anthropic_system(body, text, before)
    local current = body.system
    if current == nil or current == "" then
        body.system = text
    elseif type(current) == "string" then
        body.system = before and (text .. "\n\n" .. current) or (current .. "\n\n" .. text)
    elseif type(current) == "table" then
        local block = { type = "text", text = text }
        if before then
            table.insert(current, 1, block)
        else
            current[#current + 1] = block
        end
    end
end

local function add_messages(body, ctx, msgs, before)
    if type(msgs) ~= "table" or #msgs == 0 then
        return
    end
    local anthropic = _M.detect(body, ctx) == "anthropic-messages"
    if type(body.messages) ~= "table" then
        body.messages = {}
    end
    local added = {}
    for _, msg in ipairs(msgs) do
        if anthropic and msg.role == "system" then
            add_anthropic_system(body, msg.content, before)
        else
            added[#added + 1] = { role = msg.role, content = msg.content }
        end
    end
    if before then
        for _, msg in ipairs(body.messages) do
            added[#added + 1] = msg
        end
        body.messages = added
    else
        for _, msg in ipairs(added) do
            body.messages[#body.messages + 1] = msg
        end
    end
end

function _M.prepend_messages(body, ctx, msgs)
    add_messages(body, ctx, msgs, true)
end

function _M.append_messages(body, ctx, msgs)
    add_messages(body, ctx, msgs, false)
end

return _M
