//! Builds HTTP headers (host memory, never sent) and keeps every `fields`
//! object, each under the 32 KiB per-object cap, until something gives:
//! through `from-list`, `append`, `set` or `clone`, as `via` says. One call
//! must not make the host hold more header bytes than its budget.
use airlock_test_programs::{ToolError, Value};
use wasip2::http::types::Fields;

airlock_test_programs::program! {
    name: "limit-header-flood",
    capabilities: airlock_test_programs::Capabilities::none(),
    run: |input| {
        let via = input.get("via").and_then(Value::as_str).unwrap_or("append").to_owned();
        let value = vec![b'v'; 30 << 10];
        let first = Fields::new();
        first.append("x-big", &value).map_err(|e| ToolError::failed(format!("{e:?}")))?;
        let mut held = Vec::new();
        for n in 0..100_000 {
            let made = match via.as_str() {
                "from-list" => Fields::from_list(&[("x-big".to_owned(), value.clone())]),
                "append" => {
                    let fields = Fields::new();
                    fields.append("x-big", &value).map(|()| fields)
                }
                "set" => {
                    let fields = Fields::new();
                    fields.set("x-big", std::slice::from_ref(&value)).map(|()| fields)
                }
                "clone" => Ok(first.clone()),
                other => return Err(ToolError::invalid_input(format!("unknown `via` {other}"))),
            };
            match made {
                Ok(fields) => held.push(fields),
                Err(e) => {
                    return Err(ToolError::failed(format!(
                        "the host refused fields {n} with `{e:?}` instead of ending the call at its limit"
                    )));
                }
            }
        }
        Err(ToolError::failed(format!(
            "{}: {} fields of 30 KiB held at once",
            airlock_test_programs::ESCAPED,
            held.len()
        )))
    }
}
