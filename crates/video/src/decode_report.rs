//! What decoding had to work around (spec section 1, the rules on size
//! changes and damaged streams): kept by the decoder while it runs, read at
//! the end for warnings and output metadata.

/// A frame size change inside a stream: every frame comes out at the first
/// frame's size (spec section 1), scaled as the FFmpeg CLI scales it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SizeChange {
    /// The first frame's decoded size (width, height), which every frame is
    /// scaled to (before display rotation).
    pub first: (u32, u32),
    /// The first other size seen (width, height).
    pub other: (u32, u32),
    /// The number of the first frame with that other size.
    pub at_frame: u64,
}

/// What decoding had to work around, for warnings and output metadata.
///
/// All fields stay at their defaults for an intact file; see
/// [`DecodeReport::warnings`] for the sentences shown to a user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeReport {
    /// Packets the decoder rejected or FFmpeg flagged corrupt, skipped (the
    /// decoder conceals what it can), plus decode errors the FFmpeg CLI
    /// tolerates. A corrupt packet the decoder then rejects counts once.
    pub concealed_errors: u64,
    /// The file ended before the container said it would (cut short, or a
    /// read error): decoding stopped at the last decoded frame.
    pub ended_early: bool,
    /// A trailing partial raw frame (a `.yuv` file whose size is not a
    /// whole number of frames) was ignored.
    pub partial_frame_dropped: bool,
    /// The frame size changed mid-stream: the first frame's size and the
    /// first other size seen. Every frame was scaled to the first size.
    pub size_change: Option<SizeChange>,
}

impl DecodeReport {
    /// True when nothing had to be worked around.
    pub fn is_clean(&self) -> bool {
        *self == Self::default()
    }

    /// One line per thing a user should know, empty when nothing happened.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.concealed_errors > 0 {
            let s = if self.concealed_errors == 1 { "" } else { "s" };
            out.push(format!(
                "{} damaged packet{s} or decode error{s} skipped (the decoder concealed what it could)",
                self.concealed_errors
            ));
        }
        if self.ended_early {
            out.push("the file ended early (truncated or a read error): decoded up to the last whole frame".to_owned());
        }
        if self.partial_frame_dropped {
            out.push("the raw video ends with a partial frame, which was ignored".to_owned());
        }
        if let Some(c) = self.size_change {
            out.push(format!(
                "the frame size changed from {}x{} to {}x{} at frame {}; every frame was scaled to {}x{}",
                c.first.0, c.first.1, c.other.0, c.other.1, c.at_frame, c.first.0, c.first.1
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_report_has_no_warnings() {
        assert!(DecodeReport::default().warnings().is_empty());
        assert!(DecodeReport::default().is_clean());
    }

    #[test]
    fn each_event_gives_one_line() {
        let r = DecodeReport {
            concealed_errors: 2,
            ended_early: true,
            partial_frame_dropped: true,
            size_change: Some(SizeChange { first: (320, 240), other: (640, 480), at_frame: 13 }),
        };
        let w = r.warnings();
        for line in &w {
            println!("{line}");
            assert!(!line.contains('\n'));
        }
        assert_eq!(w.len(), 4);
        assert!(w[0].starts_with("2 damaged packets"));
        assert!(w[3].contains("320x240 to 640x480 at frame 13"));
        assert!(!r.is_clean());
    }
}
