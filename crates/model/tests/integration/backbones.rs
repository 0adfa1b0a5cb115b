//! Parity of the two backbones with the authors' PyTorch code: both networks
//! filled with synthetic weights (spec v1) on their own state-dict names,
//! fed the fixtures' stored network inputs, compared with the stored
//! features by relative L2 error (`||ours - ref|| / ||ref||`, bar 1e-4) for
//! every tensor of every reference fixture.

use relaxvqa_fixtures::{TensorFile, VIDEOS};
use relaxvqa_image::RgbImage;
use relaxvqa_model::backbone::{
    resnet50_expected_tensors, vit_b16_expected_tensors, BackboneError, ImageBatch, Normalisation, ResNet50, VitB16,
    WeightProblem, LAYER_STACK_LEN, RESNET_POOL_LEN, VIT_POOL_LEN,
};
use relaxvqa_model::synthetic::synthetic_state_dict;

/// Largest relative L2 error accepted.
const BAR: f64 = 1e-4;

fn rel_l2(ours: &[f32], want: &[f32]) -> f64 {
    assert_eq!(ours.len(), want.len());
    let num: f64 = ours.iter().zip(want).map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2)).sum();
    let den: f64 = want.iter().map(|b| f64::from(*b).powi(2)).sum();
    (num / den).sqrt()
}

/// A batch of `images` as `norm` prepares them.
fn batch(images: &[RgbImage], norm: Normalisation) -> Result<ImageBatch, BackboneError> {
    ImageBatch::from_images(&images.iter().collect::<Vec<_>>(), norm)
}

fn image(file: &TensorFile, name: &str) -> RgbImage {
    let t = file.get(name);
    RgbImage::from_vec(t.shape[1], t.shape[0], t.u8()).expect("fixture image size")
}

/// One network input and the fixture tensor its output is compared with.
struct Case {
    input: String,
    want: String,
}

fn resnet_cases(file: &TensorFile) -> (Vec<Case>, Vec<Case>) {
    let frames = file.count("video.sampled_frame_count");
    let pairs = file.count("video.pair_count");
    let mut stacks: Vec<Case> = (0..frames)
        .map(|i| Case { input: format!("frame.{i}.resnet_input_rgb"), want: format!("frame.{i}.resnet_layerstack") })
        .collect();
    stacks.extend(
        (0..pairs).map(|j| Case {
            input: format!("pair.{j}.frame_fragment"),
            want: format!("pair.{j}.frag_resnet_layerstack"),
        }),
    );
    let pools = (0..pairs)
        .map(|j| Case { input: format!("pair.{j}.merged_fragment"), want: format!("pair.{j}.merged_resnet_pool") })
        .collect();
    (stacks, pools)
}

fn vit_cases(file: &TensorFile) -> Vec<Case> {
    let frames = file.count("video.sampled_frame_count");
    let pairs = file.count("video.pair_count");
    let mut v: Vec<Case> = (0..frames)
        .map(|i| Case { input: format!("frame.{i}.vit_input_rgb"), want: format!("frame.{i}.vit_pool") })
        .collect();
    for j in 0..pairs {
        v.push(Case { input: format!("pair.{j}.frame_fragment"), want: format!("pair.{j}.frag_vit_pool") });
        v.push(Case { input: format!("pair.{j}.merged_fragment"), want: format!("pair.{j}.merged_vit_pool") });
    }
    v
}

#[test]
fn resnet50_matches_reference() {
    let sd = synthetic_state_dict(&resnet50_expected_tensors());
    let net = ResNet50::from_state_dict(&sd).expect("build ResNet-50");
    let mut worst = 0f64;
    for stem in VIDEOS {
        let file = TensorFile::reference(stem);
        let (stacks, pools) = resnet_cases(&file);
        // One batch per fixture: the stack cases, then the pool cases.
        let images: Vec<RgbImage> = stacks.iter().chain(&pools).map(|c| image(&file, &c.input)).collect();
        let batch = batch(&images, Normalisation::ImageNet).expect("batch");
        let start = std::time::Instant::now();
        let out = net.forward(&batch).expect("forward");
        println!("{stem}: ResNet-50 batch of {} in {:.2?}", images.len(), start.elapsed());
        assert_eq!(out.len(), images.len());
        let stack: Vec<&[f32]> = out.iter().map(|o| o.layer_stack.as_slice()).collect();
        let pool: Vec<&[f32]> = out.iter().map(|o| o.pool.as_slice()).collect();
        assert_eq!(stack[0].len(), LAYER_STACK_LEN);
        assert_eq!(pool[0].len(), RESNET_POOL_LEN);
        for (i, case) in stacks.iter().enumerate() {
            let e = rel_l2(stack[i], &file.get(&case.want).f32());
            println!("  {stem} {:<32} rel L2 {e:.3e}", case.want);
            worst = worst.max(e);
        }
        for (i, case) in pools.iter().enumerate() {
            let e = rel_l2(pool[stacks.len() + i], &file.get(&case.want).f32());
            println!("  {stem} {:<32} rel L2 {e:.3e}", case.want);
            worst = worst.max(e);
        }
    }
    println!("ResNet-50 worst rel L2 {worst:.3e}");
    assert!(worst < BAR, "ResNet-50 worst relative L2 error {worst:e} over {BAR:e}");
}

#[test]
fn vit_b16_matches_reference() {
    let sd = synthetic_state_dict(&vit_b16_expected_tensors());
    let net = VitB16::from_state_dict(&sd).expect("build ViT-B/16");
    let mut worst = 0f64;
    for stem in VIDEOS {
        let file = TensorFile::reference(stem);
        let cases = vit_cases(&file);
        let images: Vec<RgbImage> = cases.iter().map(|c| image(&file, &c.input)).collect();
        let batch = batch(&images, Normalisation::UnitRange).expect("batch");
        let start = std::time::Instant::now();
        let pool = net.forward(&batch).expect("forward");
        assert_eq!(pool.len(), images.len());
        println!("{stem}: ViT-B/16 batch of {} in {:.2?}", images.len(), start.elapsed());
        assert_eq!(pool[0].len(), VIT_POOL_LEN);
        for (i, case) in cases.iter().enumerate() {
            let e = rel_l2(&pool[i], &file.get(&case.want).f32());
            println!("  {stem} {:<32} rel L2 {e:.3e}", case.want);
            worst = worst.max(e);
        }
    }
    println!("ViT-B/16 worst rel L2 {worst:.3e}");
    assert!(worst < BAR, "ViT-B/16 worst relative L2 error {worst:e} over {BAR:e}");
}

/// Parameter count without BatchNorm running statistics.
fn learned_params(specs: &[(String, Vec<usize>)]) -> usize {
    specs
        .iter()
        .filter(|(n, _)| !n.ends_with("running_mean") && !n.ends_with("running_var"))
        .map(|(_, s)| s.iter().product::<usize>())
        .sum()
}

#[test]
fn expected_tensor_lists_match_the_published_architectures() {
    let r = resnet50_expected_tensors();
    // torchvision resnet50: 25,557,032 parameters, 2,049,000 of them in fc.
    assert_eq!(learned_params(&r), 25_557_032 - 2_049_000);
    assert_eq!(r.len(), 265);
    for (name, shape) in [
        ("conv1.weight", vec![64, 3, 7, 7]),
        ("layer1.0.downsample.0.weight", vec![256, 64, 1, 1]),
        ("layer2.0.conv2.weight", vec![128, 128, 3, 3]),
        ("layer3.5.bn3.running_var", vec![1024]),
        ("layer4.2.conv3.weight", vec![2048, 512, 1, 1]),
    ] {
        assert!(r.contains(&(name.to_owned(), shape)), "{name}");
    }
    assert!(!r.iter().any(|(n, _)| n.starts_with("fc.") || n.ends_with("num_batches_tracked")));

    let v = vit_b16_expected_tensors();
    // timm vit_base_patch16_224 without its classifier: 85,798,656.
    assert_eq!(learned_params(&v), 85_798_656);
    assert_eq!(v.len(), 150);
    for (name, shape) in [
        ("cls_token", vec![1, 1, 768]),
        ("pos_embed", vec![1, 197, 768]),
        ("patch_embed.proj.weight", vec![768, 3, 16, 16]),
        ("blocks.11.attn.qkv.bias", vec![2304]),
        ("blocks.7.mlp.fc2.weight", vec![768, 3072]),
        ("norm.bias", vec![768]),
    ] {
        assert!(v.contains(&(name.to_owned(), shape)), "{name}");
    }
}

#[test]
fn loaders_name_every_missing_or_misshapen_tensor() {
    let mut sd = synthetic_state_dict(&resnet50_expected_tensors());
    sd.remove("layer2.1.conv2.weight");
    let bad = relaxvqa_model::HostTensor::new(vec![32], vec![0.0; 32]).expect("tensor");
    sd.insert("layer4.0.bn1.bias", bad);
    match ResNet50::from_state_dict(&sd) {
        Err(BackboneError::Weights { problems, .. }) => {
            assert_eq!(problems.len(), 2, "{problems:?}");
            assert!(problems.contains(&WeightProblem::Missing {
                name: "layer2.1.conv2.weight".into(),
                expected: vec![128, 128, 3, 3]
            }));
            assert!(problems.contains(&WeightProblem::Shape {
                name: "layer4.0.bn1.bias".into(),
                expected: vec![512],
                found: vec![32]
            }));
        }
        other => panic!("expected a weights error, got {:?}", other.err()),
    }
    let empty = relaxvqa_model::StateDict::new();
    let err = VitB16::from_state_dict(&empty).err().expect("empty state dict must fail");
    assert!(err.to_string().contains("150 problem"), "{err}");
}

/// Every malformed batch a caller can build is an error from both networks,
/// and an empty batch gives no output: nothing panics.
#[test]
fn wrong_batches_are_errors_for_both_networks() {
    let resnet = ResNet50::from_state_dict(&synthetic_state_dict(&resnet50_expected_tensors())).expect("build");
    let vit = VitB16::from_state_dict(&synthetic_state_dict(&vit_b16_expected_tensors())).expect("build");
    for (w, h) in [(100, 100), (224, 225), (225, 224)] {
        let images = [RgbImage::zeros(w, h)];
        let r = resnet.forward(&batch(&images, ResNet50::NORMALISATION).expect("batch"));
        let v = vit.forward(&batch(&images, VitB16::NORMALISATION).expect("batch"));
        for (name, e) in [(ResNet50::NAME, r.err()), (VitB16::NAME, v.err())] {
            match e {
                Some(e @ BackboneError::InputSize { .. }) => {
                    println!("{name}: {e}");
                    assert!(e.to_string().contains(&format!("got {w}x{h}")), "{e}");
                }
                other => panic!("{name}: {w}x{h}: expected InputSize, got {other:?}"),
            }
        }
    }
    let mixed = [RgbImage::zeros(224, 224), RgbImage::zeros(224, 200)];
    assert!(matches!(
        batch(&mixed, Normalisation::ImageNet),
        Err(BackboneError::MixedSizes { index: 1, found_h: 200, .. })
    ));
    let none = batch(&[], Normalisation::ImageNet).expect("no images");
    assert!(none.is_empty());
    assert!(resnet.forward(&none).expect("empty ResNet batch").is_empty());
    assert!(vit.forward(&none).expect("empty ViT batch").is_empty());
    // One image gives one row of each width.
    let one = [RgbImage::zeros(224, 224)];
    let r = resnet.forward(&batch(&one, Normalisation::ImageNet).expect("batch")).expect("forward");
    assert_eq!((r.len(), r[0].layer_stack.len(), r[0].pool.len()), (1, LAYER_STACK_LEN, RESNET_POOL_LEN));
    let v = vit.forward(&batch(&one, Normalisation::UnitRange).expect("batch")).expect("forward");
    assert_eq!((v.len(), v[0].len()), (1, VIT_POOL_LEN));
}
