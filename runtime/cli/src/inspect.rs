//! `airlock inspect`: describe() and imports as JSON.

use serde_json::json;

use crate::args::InspectArgs;
use crate::exit::Failure;
use crate::runtime;

pub(crate) async fn inspect(args: InspectArgs) -> Result<(), Failure> {
    let rt = runtime::runtime(&args.cache)?;
    let tool = runtime::load(&rt, &args.tool, &args.cache).await?;
    let report = json!({
        "digest": tool.digest().to_string(),
        "describe": tool.info(),
        "imports": tool.imports(),
    });
    let text = serde_json::to_string_pretty(&report).map_err(Failure::internal)?;
    println!("{text}");
    Ok(())
}
