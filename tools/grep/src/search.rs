//! The search itself, independent of the sandbox (so it can also be
//! benchmarked natively).

use std::path::{Path, PathBuf};

use airlock_sdk::ToolError;
use globset::{GlobBuilder, GlobMatcher};
use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::sinks::Lossy;
use grep_searcher::{BinaryDetection, Searcher, SearcherBuilder};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the tool expects its tree.
pub const ROOT: &str = "/workspace";
/// Default `max_matches`.
pub const DEFAULT_MAX_MATCHES: u32 = 1000;
/// Largest file searched, in bytes; larger files are skipped and counted.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Input of `grep`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Regular expression (Rust `regex` syntax, as in ripgrep), matched per line.
    #[schemars(length(min = 1, max = 4096))]
    pub pattern: String,
    /// Directory to search, relative to `/workspace` (default: all of it).
    #[serde(default)]
    pub path: Option<String>,
    /// Only search files matching one of these globs (default: all files).
    #[serde(default)]
    pub include: Vec<String>,
    /// Stop after this many matching lines (default 1000).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100000))]
    pub max_matches: Option<u32>,
    /// Match case-insensitively.
    #[serde(default)]
    pub case_insensitive: bool,
}

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Match {
    /// Path relative to `/workspace`, `/`-separated.
    pub path: String,
    /// 1-based line number.
    pub line: u64,
    /// The line, without its newline (lossy UTF-8).
    pub text: String,
}

/// Output of `grep`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Output {
    /// Matching lines, in path then line order.
    pub matches: Vec<Match>,
    /// Files searched.
    pub files_searched: u64,
    /// Files skipped as binary or too large.
    pub files_skipped: u64,
    /// True when `max_matches` stopped the search early.
    pub truncated: bool,
}

/// Searches the tree at `root` (the mount) as `input` says.
pub fn run(root: &Path, input: &Input) -> Result<Output, ToolError> {
    // ripgrep's own matcher: a line terminator is set, so no match can
    // span two lines.
    let matcher = RegexMatcherBuilder::new()
        .case_insensitive(input.case_insensitive)
        .line_terminator(Some(b'\n'))
        .size_limit(10 << 20)
        .build(&input.pattern)
        .map_err(|e| ToolError::invalid_input(format!("pattern: {e}")))?;
    let includes = input.include.iter().map(|g| Include::new(g)).collect::<Result<Vec<_>, _>>()?;
    let start = match input.path.as_deref() {
        None | Some("") | Some(".") => root.to_path_buf(),
        Some(p) => {
            let rel = p.trim_start_matches('/');
            if Path::new(rel).components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
                return Err(ToolError::invalid_input(format!("path `{p}` must be relative, without `..`")));
            }
            root.join(rel)
        }
    };
    let mut search = Search {
        root: root.to_path_buf(),
        matcher,
        searcher: SearcherBuilder::new().binary_detection(BinaryDetection::none()).line_number(true).build(),
        includes,
        max: input.max_matches.unwrap_or(DEFAULT_MAX_MATCHES),
        out: Output { matches: Vec::new(), files_searched: 0, files_skipped: 0, truncated: false },
    };
    search.walk(&start)?;
    Ok(search.out)
}

struct Include {
    matcher: GlobMatcher,
    whole_path: bool,
}

impl Include {
    fn new(glob: &str) -> Result<Self, ToolError> {
        let whole_path = glob.contains('/');
        let matcher = GlobBuilder::new(glob.trim_start_matches('/'))
            .literal_separator(true)
            .build()
            .map_err(|e| ToolError::invalid_input(format!("include glob `{glob}`: {e}")))?
            .compile_matcher();
        Ok(Self { matcher, whole_path })
    }

    fn matches(&self, rel: &str) -> bool {
        if self.whole_path {
            self.matcher.is_match(rel)
        } else {
            self.matcher.is_match(rel.rsplit('/').next().unwrap_or(rel))
        }
    }
}

struct Search {
    root: PathBuf,
    matcher: RegexMatcher,
    searcher: Searcher,
    includes: Vec<Include>,
    max: u32,
    out: Output,
}

impl Search {
    fn walk(&mut self, dir: &Path) -> Result<(), ToolError> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| ToolError::from_io(format!("read directory {}", dir.display()), &e))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            if self.out.truncated {
                return Ok(());
            }
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            let Ok(kind) = entry.file_type() else { continue };
            let path = entry.path();
            if kind.is_dir() && !hidden {
                self.walk(&path)?;
            } else if kind.is_file() && (!hidden || !self.includes.is_empty()) {
                self.file(&path)?;
            }
        }
        Ok(())
    }

    /// Searches one file. With include globs, only files matching one are
    /// searched, and a matching glob admits a hidden file (as in ripgrep,
    /// where globs override the hidden-file rule).
    fn file(&mut self, path: &Path) -> Result<(), ToolError> {
        let rel = path.strip_prefix(&self.root).unwrap_or(path).to_string_lossy().replace('\\', "/");
        if !self.includes.is_empty() && !self.includes.iter().any(|g| g.matches(&rel)) {
            return Ok(());
        }
        // Binary files (any NUL byte) are skipped, as ripgrep does.
        let Some(bytes) = read_bounded(path).filter(|b| memchr::memchr(0, b).is_none()) else {
            self.out.files_skipped += 1;
            return Ok(());
        };
        self.out.files_searched += 1;
        let max = u64::from(self.max);
        let (matches, truncated) = (&mut self.out.matches, &mut self.out.truncated);
        let sink = Lossy(|line_number, line: &str| {
            if matches.len() as u64 >= max {
                *truncated = true;
                return Ok(false);
            }
            let text = line.strip_suffix('\n').unwrap_or(line);
            matches.push(Match { path: rel.clone(), line: line_number, text: text.to_owned() });
            Ok(true)
        });
        self.searcher
            .search_slice(&self.matcher, &bytes, sink)
            .map_err(|e| ToolError::failed(format!("search {rel}: {e}")))?;
        Ok(())
    }
}

/// The file's bytes, or `None` if it cannot be read or is larger than
/// [`MAX_FILE_BYTES`]. One open per file.
fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    if len > MAX_FILE_BYTES {
        return None;
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).ok()?);
    // At most the size read above: a file growing meanwhile cannot pass the
    // bound, and a full buffer ends the read without a host call to probe
    // for more.
    file.take(len).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}
