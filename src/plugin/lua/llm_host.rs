//! The LLM part of the Lua host API (`require("strait.llm")`): the decoded
//! chat request of an `ai-proxy` call, to read and change before it is
//! sent (access phase after `ai-proxy`, or `before_proxy`), and the
//! request's usage and cost figures (any phase; final in `log`).

use std::sync::Arc;

use mlua::{Lua, Table, Value as LuaValue};

use super::convert;
use super::host::{array_mt, with_ctx, with_ctx_mut};
use crate::llm::stats::LlmStats;
use crate::llm::ChatRequest;
use crate::plugin::builtin::ai_proxy::LlmRequest;

/// Add `llm_request`, `llm_set_request` and `llm_usage` to the host table.
pub fn install(lua: &Lua, h: &Table) -> mlua::Result<()> {
    h.raw_set(
        "llm_request",
        lua.create_function(|lua, ()| {
            let req = with_ctx(lua, |ctx| {
                ctx.extensions.get::<LlmRequest>().map(|r| r.0.clone())
            })?;
            match req.map(|r| serde_json::to_value(&r)) {
                Some(Ok(v)) => convert::to_lua(lua, &v, &array_mt(lua)?),
                Some(Err(e)) => Err(mlua::Error::runtime(e.to_string())),
                None => Ok(LuaValue::Nil),
            }
        })?,
    )?;
    h.raw_set(
        "llm_set_request",
        lua.create_function(|lua, value: LuaValue| {
            let json = convert::from_lua(&value, Some(&array_mt(lua)?)).map_err(mlua::Error::runtime)?;
            let req: ChatRequest = serde_json::from_value(json).map_err(|e| {
                mlua::Error::runtime(format!("set_request: not a chat request: {e}"))
            })?;
            with_ctx_mut(lua, |ctx| {
                if ctx.extensions.get::<LlmRequest>().is_none() {
                    return Err(mlua::Error::runtime(
                        "set_request: this request is not an LLM call (no ai-proxy before this plugin)",
                    ));
                }
                ctx.extensions.insert(LlmRequest(req));
                Ok(())
            })?
        })?,
    )?;
    h.raw_set(
        "llm_usage",
        lua.create_function(|lua, ()| {
            let stats = with_ctx(lua, |ctx| ctx.extensions.get::<Arc<LlmStats>>().cloned())?;
            let Some(stats) = stats else {
                return Ok(LuaValue::Nil);
            };
            let t = lua.create_table()?;
            t.raw_set("request_model", stats.request_model.as_str())?;
            t.raw_set("model", stats.model())?;
            t.raw_set("stream", stats.stream)?;
            if let Some(ms) = stats.ttft_ms() {
                t.raw_set("time_to_first_token", ms)?;
            }
            if let Some(u) = stats.usage() {
                t.raw_set("prompt_tokens", u.prompt_tokens)?;
                t.raw_set("completion_tokens", u.completion_tokens)?;
                t.raw_set("total_tokens", u.total_tokens())?;
                t.raw_set("cached_tokens", u.cached_tokens)?;
                t.raw_set("cache_creation_tokens", u.cache_creation_tokens)?;
                t.raw_set("reasoning_tokens", u.reasoning_tokens)?;
                t.raw_set("estimated", u.estimated)?;
            }
            if let Some(cost) = stats.cost() {
                t.raw_set("cost", cost)?;
            }
            Ok(LuaValue::Table(t))
        })?,
    )?;
    Ok(())
}
