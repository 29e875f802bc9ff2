//! The tools a server offers: loaded and compiled once at start, each with
//! its MCP listing; a tool whose input schema does not compile is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_host::{LoadedTool, Runtime};
use airlock_policy::authz::ToolIdentity;
use serde_json::{Map, Value};

use crate::error::CatalogError;

/// Every tool the server can offer, by name. Fixed for the server's
/// lifetime: nothing an agent does adds or replaces a tool.
pub struct Catalog {
    tools: BTreeMap<String, Arc<CatalogTool>>,
}

/// Where a tool comes from.
#[derive(Clone, Debug)]
pub enum CatalogSource {
    /// A `.wasm` file, or a directory whose `*.wasm` files are loaded.
    Path(PathBuf),
    /// Component bytes already read and verified (a registry tool from the
    /// component store), and what to call them in messages: the pinned
    /// reference.
    Component {
        /// The pinned reference (`oci://…@sha256:…`): the tool's `source`.
        label: String,
        /// The component.
        bytes: Arc<[u8]>,
        /// The trusted signer whose signature verified: the tool's `signer`.
        signer: Option<String>,
    },
}

/// One loaded tool, ready to list and call.
pub struct CatalogTool {
    /// The compiled, pre-instantiated component.
    pub tool: LoadedTool,
    /// How policy sees it: name, version, digest.
    pub identity: ToolIdentity,
    /// The file it came from, or the pinned registry reference.
    pub path: PathBuf,
    listing: rmcp::model::Tool,
}

/// What [`Catalog::load`] reports as it goes: one event per component.
#[derive(Debug)]
pub enum LoadEvent<'a> {
    /// A tool is ready.
    Loaded {
        /// The component file.
        path: &'a Path,
        /// The tool's name and version.
        tool: &'a ToolIdentity,
        /// Whether the compiled code came from the artifact cache.
        cached: bool,
        /// Time to load, compile (or fetch) and describe it.
        elapsed: Duration,
    },
    /// A component was skipped; the others are still served.
    Skipped(&'a CatalogError),
}

impl Catalog {
    /// Loads every component named by `paths`: a `.wasm` file, or a
    /// directory whose `*.wasm` files (not recursive) are loaded in name
    /// order. A component that fails to load, has an unusable input schema or
    /// repeats an earlier tool's name is reported through `progress` and
    /// skipped. Fails if a path cannot be read, or if no tool loads at all.
    pub async fn load(
        runtime: &Runtime,
        paths: &[PathBuf],
        progress: impl FnMut(LoadEvent<'_>),
    ) -> Result<Catalog, CatalogError> {
        let sources: Vec<CatalogSource> = paths.iter().cloned().map(CatalogSource::Path).collect();
        Self::load_sources(runtime, &sources, progress).await
    }

    /// [`Catalog::load`], from files and directories and from component
    /// bytes already verified (registry tools), in order.
    pub async fn load_sources(
        runtime: &Runtime,
        sources: &[CatalogSource],
        mut progress: impl FnMut(LoadEvent<'_>),
    ) -> Result<Catalog, CatalogError> {
        let mut tools: BTreeMap<String, Arc<CatalogTool>> = BTreeMap::new();
        for source in expand(sources)? {
            let started = Instant::now();
            let path = source.label();
            match load_one(runtime, &source).await {
                Ok(entry) => {
                    if let Some(first) = tools.get(&entry.identity.name) {
                        let error = CatalogError::Duplicate {
                            path,
                            tool: entry.identity.name.clone(),
                            first: first.path.clone(),
                        };
                        progress(LoadEvent::Skipped(&error));
                        continue;
                    }
                    progress(LoadEvent::Loaded {
                        path: &entry.path,
                        tool: &entry.identity,
                        cached: entry.tool.from_cache(),
                        elapsed: started.elapsed(),
                    });
                    tools.insert(entry.identity.name.clone(), Arc::new(entry));
                }
                Err(error) => progress(LoadEvent::Skipped(&error)),
            }
        }
        if tools.is_empty() {
            let looked: Vec<String> = sources.iter().map(|s| format!("`{}`", s.label().display())).collect();
            return Err(CatalogError::Empty(looked.join(", ")));
        }
        Ok(Catalog { tools })
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<CatalogTool>> {
        self.tools.get(name)
    }

    /// Every tool, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<CatalogTool>> {
        self.tools.values()
    }

    /// How many tools there are.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether there are none (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

impl CatalogTool {
    /// The MCP `tools/list` entry: name, description, input schema and, when
    /// it describes an object, the output schema.
    pub fn listing(&self) -> &rmcp::model::Tool {
        &self.listing
    }
}

impl CatalogSource {
    /// The file, or the reference as a path-like label.
    fn label(&self) -> PathBuf {
        match self {
            Self::Path(path) => path.clone(),
            Self::Component { label, .. } => PathBuf::from(label),
        }
    }
}

/// Every source with its directories expanded into their component files,
/// in order, without repeated files.
fn expand(sources: &[CatalogSource]) -> Result<Vec<CatalogSource>, CatalogError> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for source in sources {
        match source {
            CatalogSource::Path(path) => {
                for file in component_files(std::slice::from_ref(path))? {
                    if seen.insert(file.clone()) {
                        out.push(CatalogSource::Path(file));
                    }
                }
            }
            component => out.push(component.clone()),
        }
    }
    Ok(out)
}

/// The component files `paths` name, in order, without repeats.
fn component_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CatalogError> {
    let mut files = Vec::new();
    for path in paths {
        let read = |source| CatalogError::Read { path: path.clone(), source };
        if path.metadata().map_err(read)?.is_dir() {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(path).map_err(read)? {
                let entry_path = entry.map_err(read)?.path();
                if entry_path.extension().is_some_and(|e| e == "wasm") && entry_path.is_file() {
                    found.push(entry_path);
                }
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    Ok(files)
}

async fn load_one(runtime: &Runtime, source: &CatalogSource) -> Result<CatalogTool, CatalogError> {
    let label = source.label();
    let path = label.as_path();
    let loaded = match source {
        CatalogSource::Path(path) => runtime.load(path).await,
        CatalogSource::Component { bytes, .. } => runtime.load_bytes(bytes).await,
    };
    let tool = loaded.map_err(|source| CatalogError::Load { path: path.to_owned(), source })?;
    if let Some(note) = tool.cache_note() {
        tracing::warn!(path = %path.display(), note, "artifact cache");
    }
    let info = tool.info();
    let schema_error =
        |reason: String| CatalogError::Schema { path: path.to_owned(), tool: info.name.clone(), reason };
    let input_schema = arguments_schema(&info.input_schema).ok_or_else(|| {
        schema_error("MCP passes arguments as a JSON object, and this schema admits no object".to_owned())
    })?;
    // Built without remote resolution: a `$ref` to a URL fails here instead
    // of being fetched.
    airlock_gateway::schema::InputSchema::compile(&tool).map_err(schema_error)?;
    let mut listing =
        rmcp::model::Tool::new(info.name.clone(), info.description.clone(), Arc::new(input_schema));
    if let Some(output) = object_schema(&info.output_schema) {
        listing = listing.with_raw_output_schema(Arc::new(output));
    }
    let identity = ToolIdentity {
        name: info.name.clone(),
        version: info.version.clone(),
        digest: tool.digest().to_string(),
        source: match source {
            CatalogSource::Path(_) => "file".to_owned(),
            CatalogSource::Component { label, .. } => label.clone(),
        },
        signer: match source {
            CatalogSource::Path(_) => None,
            CatalogSource::Component { signer, .. } => signer.clone(),
        },
    };
    Ok(CatalogTool { tool, identity, path: path.to_owned(), listing })
}

/// The schema MCP clients see for the arguments, which are always a JSON
/// object: `true` becomes `{"type": "object"}`, a schema without `type`
/// gets `"type": "object"` added (it admits at most the same objects), an
/// object schema stays as it is; anything else admits no object: `None`.
fn arguments_schema(schema: &Value) -> Option<Map<String, Value>> {
    match schema {
        Value::Bool(true) => Some(Map::from_iter([("type".to_owned(), Value::String("object".to_owned()))])),
        Value::Object(object) if !object.contains_key("type") => {
            let mut object = object.clone();
            object.insert("type".to_owned(), Value::String("object".to_owned()));
            Some(object)
        }
        _ => object_schema(schema),
    }
}

/// `schema` as a JSON object, if it describes an object.
fn object_schema(schema: &Value) -> Option<Map<String, Value>> {
    let object = schema.as_object()?;
    (object.get("type") == Some(&Value::String("object".to_owned()))).then(|| object.clone())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn argument_schemas_always_describe_an_object() {
        let object = |v: Value| Value::Object(arguments_schema(&v).expect("usable"));
        assert_eq!(object(json!(true)), json!({"type": "object"}));
        assert_eq!(object(json!({"required": ["a"]})), json!({"type": "object", "required": ["a"]}));
        let typed = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert_eq!(object(typed.clone()), typed);
        for unusable in
            [json!(false), json!({"type": "string"}), json!({"type": ["object", "null"]}), json!(3)]
        {
            assert!(arguments_schema(&unusable).is_none(), "{unusable}");
        }
    }
}
