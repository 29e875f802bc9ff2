//! Puts HTTP header bytes in the host (never sent) and keeps every object
//! holding them, each under the 32 KiB per-object cap, until something
//! gives: `fields` through `from-list`, `append`, `set` or `clone`, or
//! requests with a 30 KiB `path` or `authority`, as `via` says. One call
//! must not make the host hold more header bytes than its budget.
use airlock_test_programs::{ToolError, Value};
use wasip2::http::types::{Fields, OutgoingRequest};

/// Something the host holds for the guest, kept alive by the guest.
enum Held {
    Fields(#[allow(dead_code, reason = "held, not read")] Fields),
    Request(#[allow(dead_code, reason = "held, not read")] OutgoingRequest),
}

fn make(via: &str, value: &[u8], first: &Fields) -> Result<Held, String> {
    let long = "a".repeat(30 << 10);
    let fields = |made: Result<Fields, _>| made.map(Held::Fields).map_err(|e| format!("{e:?}"));
    match via {
        "from-list" => fields(Fields::from_list(&[("x-big".to_owned(), value.to_vec())])),
        "append" => {
            let made = Fields::new();
            fields(made.append("x-big", value).map(|()| made))
        }
        "set" => {
            let made = Fields::new();
            fields(made.set("x-big", &[value.to_vec()]).map(|()| made))
        }
        "clone" => Ok(Held::Fields(first.clone())),
        "path" | "authority" => {
            let request = OutgoingRequest::new(Fields::new());
            let set = if via == "path" {
                request.set_path_with_query(Some(&format!("/{long}")))
            } else {
                request.set_authority(Some(&format!("{long}.example")))
            };
            set.map(|()| Held::Request(request)).map_err(|()| format!("{via} refused as invalid"))
        }
        other => Err(format!("unknown `via` {other}")),
    }
}

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
            match make(&via, &value, &first) {
                Ok(one) => held.push(one),
                Err(e) => {
                    return Err(ToolError::failed(format!(
                        "the host refused object {n} with `{e}` instead of ending the call at its limit"
                    )));
                }
            }
        }
        Err(ToolError::failed(format!(
            "{}: {} objects of 30 KiB held at once",
            airlock_test_programs::ESCAPED,
            held.len()
        )))
    }
}
