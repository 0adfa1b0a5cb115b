//! Decoded frames to RGB as the CLI writes them to PNG: the target format
//! chosen from the first frame, libswscale with the frame's colour details,
//! and, for rotated streams, the CLI's filter chain (`rotate`).

mod rotate;

use std::ffi::c_int;
use std::ptr;

use ff::format::Pixel;
use ff::{ffi, frame, software::scaling};
use ffmpeg_next as ff;
use relaxvqa_image::RgbImage;

use crate::orient::Orientation;
use rotate::RotationGraph;

/// What libswscale converts to, chosen as the CLI chooses a PNG pixel format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Target {
    Rgb24,
    Rgba,
    Rgb48,
    Rgba64,
    Gray8,
    Gray16,
}

impl Target {
    pub(super) fn for_source(format: Pixel) -> Result<Self, String> {
        let id: ffi::AVPixelFormat = format.into();
        // SAFETY: av_pix_fmt_desc_get accepts any AVPixelFormat value and
        // returns either null or a pointer to a static, immutable descriptor
        // that lives as long as the process.
        let desc = unsafe { ffi::av_pix_fmt_desc_get(id).as_ref() }.ok_or("unknown pixel format")?;
        let flag = |f: c_int| desc.flags & (f as u64) != 0;
        if flag(ffi::AV_PIX_FMT_FLAG_HWACCEL) {
            return Err("hardware frames are not supported".to_owned());
        }
        let alpha = flag(ffi::AV_PIX_FMT_FLAG_ALPHA);
        let colour_components = usize::from(desc.nb_components).saturating_sub(usize::from(alpha)).clamp(1, 4);
        let depth = desc.comp[..colour_components].iter().map(|c| c.depth).max().unwrap_or(8);
        let deep = depth > 8;
        let gray = colour_components == 1 && !flag(ffi::AV_PIX_FMT_FLAG_PAL);
        Ok(match (gray, deep, alpha) {
            (true, false, _) => Self::Gray8,
            (true, true, _) => Self::Gray16,
            (false, false, false) => Self::Rgb24,
            (false, false, true) => Self::Rgba,
            (false, true, false) => Self::Rgb48,
            (false, true, true) => Self::Rgba64,
        })
    }

    fn pixel(self) -> Pixel {
        match self {
            Self::Rgb24 => Pixel::RGB24,
            Self::Rgba => Pixel::RGBA,
            Self::Rgb48 => Pixel::RGB48LE,
            Self::Rgba64 => Pixel::RGBA64LE,
            Self::Gray8 => Pixel::GRAY8,
            Self::Gray16 => Pixel::GRAY16LE,
        }
    }

    /// Bytes per pixel, and the byte offsets of R, G, B within a pixel (the
    /// high byte of each little-endian 16-bit sample for deep formats).
    fn layout(self) -> (usize, [usize; 3]) {
        match self {
            Self::Rgb24 => (3, [0, 1, 2]),
            Self::Rgba => (4, [0, 1, 2]),
            Self::Rgb48 => (6, [1, 3, 5]),
            Self::Rgba64 => (8, [1, 3, 5]),
            Self::Gray8 => (1, [0, 0, 0]),
            Self::Gray16 => (2, [1, 1, 1]),
        }
    }

    fn is_gray(self) -> bool {
        matches!(self, Self::Gray8 | Self::Gray16)
    }
}

/// A libswscale context for one source geometry and format, with the
/// colorspace details last applied.
struct Converter {
    key: Key,
    target: Target,
    sws: scaling::Context,
    /// (colorspace, range) of the frames the details were set for.
    colors: Option<(c_int, c_int)>,
    /// The converted frame, allocated once (aligned as FFmpeg aligns it).
    out: frame::Video,
}

// SAFETY: the SwsContext (the only member that is not Send) is owned by
// this Converter alone and used only through `&mut self`, so it is never
// touched by two threads at once; libswscale keeps no thread-local or
// thread-affine state in a context (made here without slice threads), so
// moving it to another thread between calls is sound.
unsafe impl Send for Converter {}

impl Converter {
    fn new(key: Key) -> Result<Self, String> {
        // A frame of another size than the first goes straight to the first
        // size in one conversion, as the CLI's `scale` filter does it.
        let Key { format, width, height, out_width, out_height, target, .. } = key;
        let sws = scaling::Context::get(
            format,
            width,
            height,
            target.pixel(),
            out_width,
            out_height,
            scaling::Flags::BICUBIC,
        )
        .map_err(|e| format!("libswscale refused the conversion to {}: {e}", pixel_name(target.pixel())))?;
        let out = frame::Video::new(target.pixel(), out_width, out_height);
        // SAFETY: `out` wraps a valid AVFrame; a null first plane means that
        // av_frame_get_buffer failed (out of memory) inside `new`.
        if unsafe { (*out.as_ptr()).data[0].is_null() } {
            return Err(format!("cannot allocate a {out_width}x{out_height} frame"));
        }
        Ok(Self { key, target, sws, colors: None, out })
    }

    /// Sets the YCbCr matrix and input range from the frame, as `vf_scale`
    /// does for every frame (`in_color_matrix=auto`).
    fn set_colors(&mut self, f: &frame::Video) {
        if self.target.is_gray() {
            return;
        }
        // SAFETY: `f` wraps a valid AVFrame; reading two plain enum fields.
        let (space, range) = unsafe { ((*f.as_ptr()).colorspace as c_int, (*f.as_ptr()).color_range as c_int) };
        if self.colors == Some((space, range)) {
            return;
        }
        self.colors = Some((space, range));
        // parse_yuv_type("auto", colorspace): values outside 1..=10 and 8
        // (YCgCo) fall back to BT.470BG (BT.601).
        let matrix = if !(1..=10).contains(&space) || space == 8 {
            ffi::AVColorSpace::AVCOL_SPC_BT470BG as c_int
        } else {
            space
        };
        let (mut inv_table, mut table): (*mut c_int, *mut c_int) = (ptr::null_mut(), ptr::null_mut());
        let (mut in_full, mut out_full, mut brightness, mut contrast, mut saturation) = (0, 0, 0, 0, 0);
        // SAFETY: `self.sws` owns a valid, initialised SwsContext. The getter
        // only writes through the out-pointers, which point at live locals;
        // sws_getCoefficients returns a pointer into a static table of 4 ints
        // for any input; the setter copies the tables it is given.
        unsafe {
            let ctx = self.sws.as_mut_ptr();
            if ffi::sws_getColorspaceDetails(
                ctx,
                &mut inv_table,
                &mut in_full,
                &mut table,
                &mut out_full,
                &mut brightness,
                &mut contrast,
                &mut saturation,
            ) < 0
            {
                return;
            }
            let coefficients = ffi::sws_getCoefficients(matrix);
            if range == ffi::AVColorRange::AVCOL_RANGE_MPEG as c_int {
                in_full = 0;
            } else if range == ffi::AVColorRange::AVCOL_RANGE_JPEG as c_int {
                in_full = 1;
            }
            ffi::sws_setColorspaceDetails(
                ctx,
                coefficients,
                in_full,
                coefficients,
                out_full,
                brightness,
                contrast,
                saturation,
            );
        }
    }

    fn run(&mut self, f: &frame::Video) -> Result<RgbImage, String> {
        self.set_colors(f);
        self.sws.run(f, &mut self.out).map_err(|e| e.to_string())?;
        extract(&self.out, self.target)
    }
}

/// What a conversion context was made for; a decoded frame with another
/// key gets a new context (streams may change size mid-way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) format: Pixel,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) orientation: Orientation,
    /// The first frame's decoded size, which every frame is brought to
    /// (before rotation).
    pub(super) out_width: u32,
    pub(super) out_height: u32,
    /// The RGB format chosen for the first frame (the CLI keeps its output
    /// format when a later frame changes size or format).
    pub(super) target: Target,
}

/// How decoded frames of one [`Key`] become RGB.
pub(super) struct Conversion(Path);

/// libswscale directly, or, for rotated streams, the CLI's own filter chain.
enum Path {
    Direct(Converter),
    Rotated(RotationGraph),
}

impl Key {
    /// The output size after rotation.
    fn rotated_out(&self) -> (u32, u32) {
        if self.orientation.swaps_dimensions() {
            (self.out_height, self.out_width)
        } else {
            (self.out_width, self.out_height)
        }
    }
}

impl Conversion {
    pub(super) fn new(key: Key) -> Result<Self, String> {
        if key.width == 0 || key.height == 0 || key.out_width == 0 || key.out_height == 0 {
            return Err(format!("the frame is {}x{}", key.width, key.height));
        }
        if key.orientation == Orientation::Identity {
            Converter::new(key).map(|c| Self(Path::Direct(c)))
        } else {
            RotationGraph::new(key).map(|g| Self(Path::Rotated(g)))
        }
    }

    pub(super) fn key(&self) -> Key {
        match &self.0 {
            Path::Direct(c) => c.key,
            Path::Rotated(g) => g.key,
        }
    }

    pub(super) fn run(&mut self, f: &frame::Video) -> Result<RgbImage, String> {
        match &mut self.0 {
            Path::Direct(c) => c.run(f),
            Path::Rotated(g) => g.run(f),
        }
    }
}

/// The converted frame's pixels as 8-bit RGB: high bytes of 16-bit samples,
/// alpha dropped, grey replicated.
fn extract(out: &frame::Video, target: Target) -> Result<RgbImage, String> {
    let (w, h) = (out.width() as usize, out.height() as usize);
    let (step, [r, g, b]) = target.layout();
    let stride = out.stride(0);
    let data = out.data(0);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let row = data.get(y * stride..y * stride + w * step).ok_or("the converted frame is shorter than its size")?;
        if target == Target::Rgb24 {
            rgb.extend_from_slice(row);
        } else {
            for px in row.chunks_exact(step) {
                rgb.extend_from_slice(&[px[r], px[g], px[b]]);
            }
        }
    }
    RgbImage::from_vec(w, h, rgb).map_err(|e| e.to_string())
}

/// FFmpeg's name for a pixel format, or a placeholder for "none".
pub(super) fn pixel_name(format: Pixel) -> String {
    format.descriptor().map_or_else(|| format!("{format:?}"), |d| d.name().to_owned())
}
