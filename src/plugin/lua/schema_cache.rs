//! Schemas Lua code checks against (`core.schema.check`), compiled once per
//! distinct document and thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde_json::Value;

use crate::schema::validator::Schema;

thread_local! {
    static CACHE: RefCell<HashMap<String, Rc<Schema>>> = RefCell::new(HashMap::new());
}

/// `doc` compiled (cached by its text; at most 256 per thread).
pub fn compile(doc: &Value) -> Result<Rc<Schema>, String> {
    let key = doc.to_string();
    if let Some(s) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return Ok(s);
    }
    let schema = Rc::new(Schema::compile(doc).map_err(|e| e.to_string())?);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= 256 {
            c.clear();
        }
        c.insert(key, schema.clone());
    });
    Ok(schema)
}
