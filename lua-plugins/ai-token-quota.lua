-- ai-token-quota: at most `limit` LLM tokens per `time_window` seconds for
-- each consumer (or each value of another request variable, `key`). The
-- tokens of an answer are known only once it is complete, so the check is
-- made before the call (a request is refused once the quota is spent) and
-- the answer's usage — the provider's figures from `ai-proxy` — is counted
-- in the log phase. One answer may therefore take a consumer past the
-- limit; the next request is refused until the window ends.
--
-- A window starts with the first counted answer of a key. Counters are per
-- route unless `group` names a quota shared by every route using it; they
-- live in this gateway process (`ngx.shared["ai-token-quota"]`), so each
-- gateway node counts its own traffic.
--
-- Only answers with usage figures count: a stream cut before the
-- provider's final usage report costs nothing until strait estimates usage.
--
-- Refused requests get `rejected_code` (429) with `Retry-After` and an
-- error body both the OpenAI and the Anthropic SDKs read:
-- `{"type": "error", "error": {"type": "rate_limit_error", "message": …}}`.

local core = require("apisix.core")
local llm = require("strait.llm")

local plugin_name = "ai-token-quota"

local schema = {
    type = "object",
    properties = {
        limit = { type = "integer", exclusiveMinimum = 0 },
        time_window = { type = "integer", exclusiveMinimum = 0 },
        key = { type = "string", minLength = 1, default = "consumer_name" },
        group = { type = "string", minLength = 1 },
        count = {
            type = "string",
            enum = { "total_tokens", "prompt_tokens", "completion_tokens" },
            default = "total_tokens",
        },
        rejected_code = { type = "integer", minimum = 200, maximum = 599, default = 429 },
        rejected_msg = { type = "string", minLength = 1 },
        show_quota_header = { type = "boolean", default = true },
    },
    required = { "limit", "time_window" },
}

local _M = {
    version = 0.1,
    -- After authentication (the consumer is known) and after ai-proxy (1040).
    priority = 1030,
    name = plugin_name,
    schema = schema,
}

local counters = ngx.shared[plugin_name]

-- The counter of this request: scope (group or route), key variable, value.
-- Requests without a value for `key` (no consumer) count by client address.
local function counter_key(conf, ctx)
    local who = ctx.var[conf.key]
    local by = conf.key
    if who == nil or who == "" then
        who, by = ctx.var.remote_addr, "remote_addr"
    end
    local scope = conf.group and ("group:" .. conf.group) or ("route:" .. tostring(ctx.var.route_id))
    return scope .. "|" .. by .. "=" .. tostring(who)
end

function _M.access(conf, ctx)
    local key = counter_key(conf, ctx)
    local used = counters:get(key) or 0
    local remaining = conf.limit - used
    local reset = math.ceil(counters:ttl(key) or conf.time_window)
    if conf.show_quota_header then
        core.response.set_header(
            "X-AI-Token-Quota-Limit", conf.limit,
            "X-AI-Token-Quota-Remaining", math.max(remaining, 0),
            "X-AI-Token-Quota-Reset", reset
        )
    end
    if remaining > 0 then
        return
    end
    core.response.set_header("Retry-After", reset)
    return conf.rejected_code, {
        type = "error",
        error = {
            type = "rate_limit_error",
            message = conf.rejected_msg
                or ("token quota of " .. conf.limit .. " per " .. conf.time_window .. " s exhausted"),
        },
    }
end

function _M.log(conf, ctx)
    local usage = llm.usage(ctx)
    local tokens = usage and usage[conf.count]
    if not tokens or tokens <= 0 then
        return
    end
    local _, err = counters:incr(counter_key(conf, ctx), tokens, 0, conf.time_window)
    if err then
        core.log.error("ai-token-quota: cannot count ", tokens, " tokens: ", err)
    end
end

return _M
