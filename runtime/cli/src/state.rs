//! `airlock state status|migrate`: the schema of a fleet's shared state.

use anyhow::anyhow;

use crate::args::{ConfigArgs, StateCommand};
use crate::exit::{self, Failure};

pub(crate) fn state(command: StateCommand) -> Result<(), Failure> {
    let (ConfigArgs { config }, migrate) = match command {
        StateCommand::Status(args) => (args, false),
        StateCommand::Migrate(args) => (args, true),
    };
    let path = config.ok_or_else(|| {
        Failure::new(
            exit::CONFIG,
            anyhow!("no runtime configuration: pass --config FILE or set AIRLOCK_CONFIG"),
        )
    })?;
    let database = airlock_gateway::config::state_database(&path)
        .map_err(|e| Failure::new(exit::CONFIG, e))?
        .ok_or_else(|| {
            Failure::new(
                exit::CONFIG,
                anyhow!(
                    "config `{}` has no `[state] url` (nor AIRLOCK_STATE_URL): state is kept on local disk",
                    path.display()
                ),
            )
        })?;
    if migrate {
        let applied = airlock_state::migrate(&database).map_err(|e| Failure::new(exit::INTERNAL, e))?;
        match applied.as_slice() {
            [] => println!("{}: up to date", database.target()),
            versions => println!("{}: applied migrations {versions:?}", database.target()),
        }
        return Ok(());
    }
    let status = airlock_state::status(&database).map_err(|e| Failure::new(exit::INTERNAL, e))?;
    println!("{}", database.target());
    for migration in airlock_state::MIGRATIONS {
        let state = if status.applied.contains(&migration.version) { "applied" } else { "pending" };
        println!("  {:>3} {state:<8} {}", migration.version, migration.name);
    }
    Ok(())
}
