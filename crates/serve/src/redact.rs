//! What the service says about itself: nothing of the server's file
//! system. Job documents, error bodies and reports go through a
//! [`Redactor`], which replaces the data dir, the media root, the head
//! file and each job's input file by names a client may see (logs keep the
//! real paths).

use std::path::Path;

use crate::config::Config;

/// Server strings and what clients see instead, longest first.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    pairs: Vec<(String, String)>,
}

impl Redactor {
    /// The service-wide replacements: the data dir, the media root and a
    /// head given as a file (as given and canonical) become placeholders.
    pub fn new(config: &Config) -> Self {
        let mut r = Redactor::default();
        let model = Path::new(&config.model);
        if model.is_file() {
            let name = model.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            r.add(&config.model, &name);
            if let Ok(c) = model.canonicalize() {
                r.add(&c.display().to_string(), &name);
            }
        }
        r.add(&config.data_dir.display().to_string(), "<data-dir>");
        if let Some(m) = &config.media_root {
            r.add(&m.display().to_string(), "<media-root>");
        }
        r
    }

    /// These replacements plus `server` (a job's input file) -> `public`.
    pub fn with(&self, server: &str, public: &str) -> Self {
        let mut r = self.clone();
        r.add(server, public);
        r
    }

    fn add(&mut self, server: &str, public: &str) {
        if server.len() > 1 {
            self.pairs.push((server.to_owned(), public.to_owned()));
            self.pairs.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` with every server string replaced, also in its HTML-escaped
    /// form (reports are HTML).
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (server, public) in &self.pairs {
            out = out.replace(server.as_str(), public);
            let escaped = html_escape(server);
            if escaped != *server {
                out = out.replace(&escaped, &html_escape(public));
            }
        }
        out
    }
}

/// HTML escaping as the report does it.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_first_and_html() {
        let mut r = Redactor::default();
        r.add("/srv/data", "<data-dir>");
        let r = r.with("/srv/data/uploads/ab", "upload ab");
        assert_eq!(
            r.text("/srv/data/uploads/ab: not media; /srv/data/jobs.db"),
            "upload ab: not media; <data-dir>/jobs.db"
        );
        let r = r.with("/srv/a&b.mp4", "x.mp4");
        assert_eq!(r.text("<td>/srv/a&amp;b.mp4</td>"), "<td>x.mp4</td>");
    }
}
