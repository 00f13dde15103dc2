-- Ollama's native chat API (`POST /api/chat`, NDJSON streams) as an
-- `ai-proxy` provider: `"provider": "ollama"`. Clients keep speaking
-- OpenAI or Anthropic; strait translates to the canonical request, this
-- adapter to Ollama's wire format and back. (Ollama also serves an
-- OpenAI-compatible `/v1`; the native API is the one with `think`,
-- `keep_alive`, `options.num_ctx` and images as base64.)
--
-- Ollama's own settings go in the route's `ai-proxy.options`, which are set
-- on every request: `{"keep_alive": "10m", "ollama_options": {"num_ctx": 8192}}`.
-- They reach this adapter in the canonical request's `extra`.
local core = require("apisix.core")

local json = core.json
local array_mt = json.array_mt

local _M = {
    default_endpoint = "http://127.0.0.1:11434",
    stream_format = "ndjson",
}

local function array(t)
    return setmetatable(t or {}, array_mt)
end

-- `data:<type>;base64,<data>` as Ollama's bare base64.
local function image_data(url)
    local data = url:match("^data:[^;,]*;base64,(.*)$")
    if not data then
        return nil, "Ollama takes images as data: URIs only (base64), not " .. url:sub(1, 40)
    end
    return data
end

-- One canonical message as Ollama messages: each tool result is a `tool`
-- message of its own (named by the tool that was called), the rest of the
-- content one message with the original role.
local function messages_of(m, tool_names, out)
    local before = #out
    local text, images, calls, thinking = {}, {}, {}, {}
    for _, part in ipairs(m.content or {}) do
        if part.type == "text" then
            text[#text + 1] = part.text
        elseif part.type == "image" then
            local data, err = image_data(part.url)
            if not data then
                return nil, err
            end
            images[#images + 1] = data
        elseif part.type == "tool_call" then
            tool_names[part.id] = part.name
            local args = json.decode(part.arguments ~= "" and part.arguments or "{}")
            if type(args) ~= "table" then
                return nil, "tool call " .. part.id .. ": arguments are not a JSON object"
            end
            calls[#calls + 1] = { ["function"] = { name = part.name, arguments = args } }
        elseif part.type == "tool_result" then
            out[#out + 1] = { role = "tool", tool_name = tool_names[part.tool_call_id], content = part.content }
        elseif part.type == "thinking" then
            thinking[#thinking + 1] = part.text
        end
        -- redacted thinking is Anthropic's own: nothing to send.
    end
    if m.role == "tool" and #text == 0 and #images == 0 then
        return true
    end
    local msg = { role = m.role == "tool" and "user" or m.role, content = table.concat(text) }
    if #images > 0 then
        msg.images = array(images)
    end
    if #calls > 0 then
        msg.tool_calls = array(calls)
    end
    if #thinking > 0 then
        msg.thinking = table.concat(thinking)
    end
    if msg.content ~= "" or msg.images or msg.tool_calls or msg.thinking or #out == before then
        out[#out + 1] = msg
    end
    return true
end

-- `think`: true, false or a level ("low", "medium", "high").
local THINK = { none = false, minimal = "low", low = "low", medium = "medium", high = "high" }

function _M.build_request(req, client)
    local messages, tool_names = array(), {}
    for _, m in ipairs(req.messages) do
        local ok, err = messages_of(m, tool_names, messages)
        if not ok then
            return nil, err
        end
    end
    local options = {
        temperature = req.temperature,
        top_p = req.top_p,
        top_k = req.top_k,
        num_predict = req.max_tokens,
    }
    if req.stop and #req.stop > 0 then
        options.stop = array(req.stop)
    end
    local extra = req.extra or {}
    for k, v in pairs(type(extra.ollama_options) == "table" and extra.ollama_options or {}) do
        options[k] = v
    end
    local body = {
        model = req.model,
        messages = messages,
        stream = req.stream == true,
        options = options,
        keep_alive = extra.keep_alive,
    }
    if req.tools and #req.tools > 0 then
        local tools = array()
        for _, t in ipairs(req.tools) do
            tools[#tools + 1] = {
                type = "function",
                ["function"] = { name = t.name, description = t.description, parameters = t.parameters },
            }
        end
        body.tools = tools
    end
    local rf = req.response_format
    if type(rf) == "table" then
        if rf.type == "json_schema" and type(rf.json_schema) == "table" then
            body.format = rf.json_schema.schema
        elseif rf.type == "json_object" then
            body.format = "json"
        end
    end
    if req.reasoning_effort then
        body.think = THINK[req.reasoning_effort]
        if body.think == nil then
            return nil, "reasoning_effort " .. req.reasoning_effort .. " is not one Ollama knows"
        end
    elseif req.thinking_budget then
        body.think = true
    end
    return { path = "/api/chat", body = body }
end

local STOP = { stop = "end_turn", length = "max_tokens" }

local function stop_reason(done_reason, called_tools)
    if called_tools then
        return "tool_use"
    end
    return STOP[done_reason or "stop"] or { other = done_reason }
end

-- Token counts, when Ollama gave them (a cached prompt may have no
-- `prompt_eval_count`; with neither count the usage is unknown).
local function usage(answer)
    if answer.prompt_eval_count == nil and answer.eval_count == nil then
        return nil
    end
    return {
        prompt_tokens = answer.prompt_eval_count or 0,
        completion_tokens = answer.eval_count or 0,
    }
end

-- Ollama's answers carry no id: one from the model and its creation time.
local function answer_id(answer)
    return "ollama-" .. ngx.md5((answer.model or "") .. (answer.created_at or "")):sub(1, 24)
end

local function tool_call(call, index)
    local f = call["function"] or {}
    return call.id or ("call_" .. index), f.name or "", json.encode(f.arguments or {})
end

function _M.decode_response(body)
    local answer = json.decode(body)
    if type(answer) ~= "table" then
        return nil, "Ollama's answer is not JSON"
    end
    if answer.error then
        return nil, tostring(answer.error)
    end
    local msg = answer.message or {}
    local content = array()
    if msg.thinking and msg.thinking ~= "" then
        content[#content + 1] = { type = "thinking", text = msg.thinking }
    end
    if msg.content and msg.content ~= "" then
        content[#content + 1] = { type = "text", text = msg.content }
    end
    for i, call in ipairs(msg.tool_calls or {}) do
        local id, name, arguments = tool_call(call, i - 1)
        content[#content + 1] = { type = "tool_call", id = id, name = name, arguments = arguments }
    end
    return {
        id = answer_id(answer),
        model = answer.model or "",
        content = content,
        stop_reason = stop_reason(answer.done_reason, msg.tool_calls ~= nil and #msg.tool_calls > 0),
        usage = usage(answer),
    }
end

-- One NDJSON line; `state` keeps the tool-call count across lines.
function _M.decode_stream(line, state)
    local chunk = json.decode(line)
    if type(chunk) ~= "table" then
        return nil, "Ollama's stream sent a line that is not JSON"
    end
    if chunk.error then
        return nil, tostring(chunk.error)
    end
    local events = array()
    if not state.started then
        state.started = true
        events[#events + 1] = { type = "start", id = answer_id(chunk), model = chunk.model or "" }
    end
    local msg = chunk.message or {}
    if msg.thinking and msg.thinking ~= "" then
        events[#events + 1] = { type = "thinking", text = msg.thinking }
    end
    if msg.content and msg.content ~= "" then
        events[#events + 1] = { type = "text", text = msg.content }
    end
    for _, call in ipairs(msg.tool_calls or {}) do
        local index = state.tool_calls or 0
        state.tool_calls = index + 1
        local id, name, arguments = tool_call(call, index)
        events[#events + 1] = { type = "tool_call_start", index = index, id = id, name = name }
        events[#events + 1] = { type = "tool_call_arguments", index = index, arguments = arguments }
    end
    if chunk.done then
        events[#events + 1] = { type = "stop", reason = stop_reason(chunk.done_reason, state.tool_calls ~= nil) }
        local u = usage(chunk)
        if u then
            events[#events + 1] = { type = "usage", usage = u }
        end
    end
    return events
end

return _M
