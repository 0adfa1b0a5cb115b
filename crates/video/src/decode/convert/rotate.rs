//! Rotated streams through the CLI's own chain: `transpose`, `hflip` or
//! `vflip` on the decoded planes, then the conversion to RGB.

use std::ffi::c_int;

use ff::{ffi, frame};
use ffmpeg_next as ff;
use relaxvqa_image::RgbImage;

use super::{extract, pixel_name, Key, Target};
use crate::orient::Orientation;

/// A libavfilter graph `buffer -> transpose/hflip/vflip -> buffersink` whose
/// sink accepts only the target format, with `flags=bicubic` for the scaler
/// libavfilter inserts: the FFmpeg CLI's own chain, so rotated frames match
/// it byte for byte.
///
/// The CLI turns the YUV planes before the RGB conversion. For 8-bit 4:2:0
/// sources of even size that is the same as turning the RGB frame (the
/// spec's observation), but not in general: libswscale's bicubic chroma
/// upsampling (deep sources, odd sizes, 4:2:2 sources, which `transpose`
/// first converts) sees the turned chroma planes.
pub(super) struct RotationGraph {
    pub(super) key: Key,
    target: Target,
    graph: ff::filter::Graph,
}

impl RotationGraph {
    pub(super) fn new(key: Key) -> Result<Self, String> {
        let target = key.target;
        // The CLI's filters for each orientation (`ffmpeg_filter.c`).
        let rotation: &[(&str, &str)] = match key.orientation {
            Orientation::Identity => &[("null", "")],
            Orientation::Rotate90Ccw => &[("transpose", "dir=cclock")],
            Orientation::Rotate90Cw => &[("transpose", "dir=clock")],
            Orientation::Transpose => &[("transpose", "dir=cclock_flip")],
            Orientation::AntiTranspose => &[("transpose", "dir=clock_flip")],
            Orientation::Rotate180 => &[("hflip", ""), ("vflip", "")],
            Orientation::FlipHorizontal => &[("hflip", "")],
            Orientation::FlipVertical => &[("vflip", "")],
        };
        let mut filters: Vec<(&str, String)> = rotation.iter().map(|(n, a)| (*n, (*a).to_owned())).collect();
        let (out_w, out_h) = key.rotated_out();
        let (rot_w, rot_h) =
            if key.orientation.swaps_dimensions() { (key.height, key.width) } else { (key.width, key.height) };
        if (rot_w, rot_h) != (out_w, out_h) {
            // A later frame of another size: the CLI's output `scale` to the
            // first (rotated) size, after the rotation.
            filters.push(("scale", format!("w={out_w}:h={out_h}:flags=bicubic")));
        }
        let err = |what: &str, e: ff::Error| format!("cannot build the rotation filter graph ({what}): {e}");
        let mut graph = ff::filter::Graph::new();
        // SAFETY: `graph` owns a valid AVFilterGraph whose `scale_sws_opts`
        // is null after allocation; avfilter_graph_free releases it with
        // av_freep, so it must come from av_strdup, as it does here.
        unsafe {
            (*graph.as_mut_ptr()).scale_sws_opts = ffi::av_strdup(c"flags=bicubic".as_ptr());
        }
        let find = |name: &str| ff::filter::find(name).ok_or_else(|| format!("libavfilter has no {name} filter"));
        let pix_fmt: ffi::AVPixelFormat = key.format.into();
        let args = format!(
            "video_size={}x{}:pix_fmt={}:time_base=1/1:pixel_aspect=1/1",
            key.width, key.height, pix_fmt as c_int
        );
        // Created in the CLI's order (source, rotation filters, sink):
        // libavfilter negotiates formats link by link in that order, which
        // puts the RGB conversion after the rotation, as in the CLI. Created
        // the other way round, the conversion lands before it.
        let mut chain = vec![graph.add(&find("buffer")?, "in", &args).map_err(|e| err("source", e))?];
        for (i, (name, args)) in filters.iter().enumerate() {
            chain.push(graph.add(&find(name)?, &format!("rotate{i}"), args).map_err(|e| err(name, e))?);
        }
        let mut sink = graph.add(&find("buffersink")?, "out", "").map_err(|e| err("sink", e))?;
        sink.set_pixel_format(target.pixel());
        chain.push(sink);
        for i in 1..chain.len() {
            let (before, after) = chain.split_at_mut(i);
            before[i - 1].link(0, &mut after[0], 0);
        }
        graph.validate().map_err(|e| err("configuration", e))?;
        Ok(Self { key, target, graph })
    }

    pub(super) fn run(&mut self, f: &frame::Video) -> Result<RgbImage, String> {
        let mut source = self.graph.get("in").ok_or("the filter graph lost its source")?;
        // SAFETY: both pointers are valid: the buffer source of a configured
        // graph and a decoded frame. With KEEP_REF the source takes a new
        // reference to the frame's buffers and leaves `f` untouched.
        let ret = unsafe {
            ffi::av_buffersrc_add_frame_flags(
                source.as_mut_ptr(),
                f.as_ptr() as *mut ffi::AVFrame,
                ffi::AV_BUFFERSRC_FLAG_KEEP_REF as c_int,
            )
        };
        if ret < 0 {
            return Err(format!("the rotation filter graph refused the frame: {}", ff::Error::from(ret)));
        }
        let mut sink = self.graph.get("out").ok_or("the filter graph lost its sink")?;
        let mut out = frame::Video::empty();
        sink.sink().frame(&mut out).map_err(|e| format!("the rotation filter graph gave no frame: {e}"))?;
        let (w, h) = self.key.rotated_out();
        if (out.format(), out.width(), out.height()) != (self.target.pixel(), w, h) {
            return Err(format!(
                "the rotation filter graph gave a {}x{} {} frame, not {w}x{h} {}",
                out.width(),
                out.height(),
                pixel_name(out.format()),
                pixel_name(self.target.pixel())
            ));
        }
        extract(&out, self.target)
    }
}
