//! Where caches live and whether the network may be used: the one place the
//! weight loader reads environment variables.
//!
//! Everything else takes a [`WeightsConfig`], so tests (and a command line
//! that wants to override a location) never touch process-global state.

use std::path::{Path, PathBuf};

/// The public Hugging Face Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Cache locations, Hub endpoint and download policy for weight loading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightsConfig {
    /// Hub base URL (`HF_ENDPOINT`; default `https://huggingface.co`).
    pub endpoint: String,
    /// The Hugging Face hub cache (`HF_HUB_CACHE`, else `$HF_HOME/hub`, else
    /// `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`):
    /// the folder holding `models--owner--name/`.
    pub hf_cache: PathBuf,
    /// PyTorch hub checkpoints (`$TORCH_HOME/hub/checkpoints`, `TORCH_HOME`
    /// defaulting to `$XDG_CACHE_HOME/torch`, else `~/.cache/torch`).
    pub torch_checkpoints: PathBuf,
    /// This program's own records of verified downloads (size and SHA-256
    /// per file), so that later runs verify offline (`RELAXVQA_CACHE_DIR`,
    /// else `$XDG_CACHE_HOME/relaxvqa`, else `~/.cache/relaxvqa`).
    pub record_dir: PathBuf,
    /// No network access (`HF_HUB_OFFLINE` set to 1, true, yes or on).
    pub offline: bool,
    /// Hub access token (`HF_TOKEN`, else the token file `$HF_HOME/token`);
    /// the backbone repositories are public, so it is rarely needed.
    pub token: Option<String>,
    /// Show a progress bar on standard error while downloading.
    pub progress: bool,
    /// How often an interrupted download is resumed before giving up.
    pub retries: usize,
}

impl WeightsConfig {
    /// The configuration the environment describes (see each field).
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok();
        let home = dirs::home_dir();
        let mut cfg = Self::from_vars(var, home.clone());
        if cfg.token.is_none() {
            let path = var("HF_TOKEN_PATH")
                .filter(|p| !p.trim().is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| hf_home(&var, &home_or_dot(home)).join("token"));
            cfg.token = std::fs::read_to_string(path).ok().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        }
        cfg
    }

    /// The configuration given environment variables `var` (empty values
    /// count as unset) and the home folder `home` (the current folder when
    /// unknown). Reads no files: the token file is [`Self::from_env`]'s.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>, home: Option<PathBuf>) -> Self {
        let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let home = home_or_dot(home);
        let cache_home = get("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| home.join(".cache"));
        let hf_cache = get("HF_HUB_CACHE")
            .or_else(|| get("HUGGINGFACE_HUB_CACHE"))
            .map(PathBuf::from)
            .unwrap_or_else(|| hf_home(&get, &home).join("hub"));
        let torch_home = get("TORCH_HOME").map(PathBuf::from).unwrap_or_else(|| cache_home.join("torch"));
        let record_dir = get("RELAXVQA_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| cache_home.join("relaxvqa"));
        let endpoint = get("HF_ENDPOINT")
            .map(|e| e.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let offline = get("HF_HUB_OFFLINE").is_some_and(|v| is_true(&v));
        let token = get("HF_TOKEN").or_else(|| get("HUGGING_FACE_HUB_TOKEN"));
        Self {
            endpoint,
            hf_cache,
            torch_checkpoints: torch_home.join("hub").join("checkpoints"),
            record_dir,
            offline,
            token: token.map(|t| t.trim().to_owned()),
            progress: true,
            retries: 3,
        }
    }

    /// A configuration with every cache under `root` (`root/huggingface/hub`,
    /// `root/torch/hub/checkpoints`, `root/relaxvqa`), online, no token, no
    /// progress bar, no retries: for tests and self-contained setups.
    pub fn rooted_at(root: &Path, endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            hf_cache: root.join("huggingface").join("hub"),
            torch_checkpoints: root.join("torch").join("hub").join("checkpoints"),
            record_dir: root.join("relaxvqa"),
            offline: false,
            token: None,
            progress: false,
            retries: 0,
        }
    }
}

fn home_or_dot(home: Option<PathBuf>) -> PathBuf {
    home.unwrap_or_else(|| PathBuf::from("."))
}

/// `HF_HOME`, defaulting to `$XDG_CACHE_HOME/huggingface` or
/// `~/.cache/huggingface` as `huggingface_hub` does.
fn hf_home(get: &dyn Fn(&str) -> Option<String>, home: &Path) -> PathBuf {
    let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    get("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
        get("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| home.join(".cache")).join("huggingface")
    })
}

/// `huggingface_hub`'s reading of a boolean environment variable.
fn is_true(v: &str) -> bool {
    matches!(v.trim().to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE")
}
