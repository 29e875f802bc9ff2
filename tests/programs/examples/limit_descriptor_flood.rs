//! Takes host file descriptors and keeps them: files (`"files"`) or TCP
//! sockets (`"sockets"`). One call must not take the process's descriptors
//! from every other call. With `"churn"` it opens and closes one file many
//! times over: a closed file gives its descriptor back.
use airlock_test_programs::{ToolError, Value, json};

airlock_test_programs::program! {
    name: "limit-descriptor-flood",
    capabilities: airlock_test_programs::workspace()
        .host("tcp://127.0.0.0/8:1-65535", "sockets to hold"),
    run: |input| {
        let kind = input.get("kind").and_then(Value::as_str).unwrap_or("files");
        let mut held: Vec<Box<dyn std::any::Any>> = Vec::new();
        for n in 0..100_000 {
            let taken: std::io::Result<Box<dyn std::any::Any>> = match kind {
                "files" => std::fs::File::open("/workspace/hello.txt").map(|f| Box::new(f) as _),
                "sockets" => {
                    use wasip2::sockets::{network::IpAddressFamily, tcp_create_socket};
                    tcp_create_socket::create_tcp_socket(IpAddressFamily::Ipv4)
                        .map(|s| Box::new(s) as _)
                        .map_err(|e| std::io::Error::other(format!("{e:?}")))
                }
                "churn" if n == 2_000 => return Ok(json!({ "opened": n })),
                "churn" => std::fs::File::open("/workspace/hello.txt").map(|f| Box::new(f) as _),
                other => return Err(ToolError::invalid_input(format!("unknown kind `{other}`"))),
            };
            match taken {
                Ok(handle) if kind != "churn" => held.push(handle),
                Ok(_closed) => {}
                Err(e) => {
                    return Err(ToolError::failed(format!(
                        "the host refused descriptor {n} with `{e}` instead of ending the call at its limit"
                    )));
                }
            }
        }
        Err(ToolError::failed(format!("{}: {} descriptors held at once", airlock_test_programs::ESCAPED, held.len())))
    }
}
