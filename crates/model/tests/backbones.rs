//! Parity of the two backbones with the authors' PyTorch code: both networks
//! filled with synthetic weights (spec v1) on their own state-dict names,
//! fed the fixtures' stored network inputs, compared with the stored
//! features by relative L2 error (`||ours - ref|| / ||ref||`, bar 1e-4) for
//! every tensor of every reference fixture.

use candle_core::Device;
use relaxvqa_fixtures::{TensorFile, VIDEOS};
use relaxvqa_image::RgbImage;
use relaxvqa_model::backbone::{
    images_to_tensor, resnet50_expected_tensors, vit_b16_expected_tensors, Backbone, BackboneError, Normalisation,
    ResNet50, VitB16, WeightProblem, LAYER_STACK_LEN, RESNET_POOL_LEN, VIT_POOL_LEN,
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
    let net = ResNet50::from_state_dict(&sd, &Device::Cpu).expect("build ResNet-50");
    let mut worst = 0f64;
    for stem in VIDEOS {
        let file = TensorFile::reference(stem);
        let (stacks, pools) = resnet_cases(&file);
        // One batch per fixture: the stack cases, then the pool cases.
        let images: Vec<RgbImage> = stacks.iter().chain(&pools).map(|c| image(&file, &c.input)).collect();
        let batch = images_to_tensor(&images, Normalisation::ImageNet, &Device::Cpu).expect("batch");
        let start = std::time::Instant::now();
        let out = net.forward(&batch).expect("forward");
        println!("{stem}: ResNet-50 batch of {} in {:.2?}", images.len(), start.elapsed());
        let stack = out.layer_stack.to_vec2::<f32>().expect("stack");
        let pool = out.pool.to_vec2::<f32>().expect("pool");
        assert_eq!(stack[0].len(), LAYER_STACK_LEN);
        assert_eq!(pool[0].len(), RESNET_POOL_LEN);
        for (i, case) in stacks.iter().enumerate() {
            let e = rel_l2(&stack[i], &file.get(&case.want).f32());
            println!("  {stem} {:<32} rel L2 {e:.3e}", case.want);
            worst = worst.max(e);
        }
        for (i, case) in pools.iter().enumerate() {
            let e = rel_l2(&pool[stacks.len() + i], &file.get(&case.want).f32());
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
    let net = VitB16::from_state_dict(&sd, &Device::Cpu).expect("build ViT-B/16");
    let mut worst = 0f64;
    for stem in VIDEOS {
        let file = TensorFile::reference(stem);
        let cases = vit_cases(&file);
        let images: Vec<RgbImage> = cases.iter().map(|c| image(&file, &c.input)).collect();
        let batch = images_to_tensor(&images, Normalisation::UnitRange, &Device::Cpu).expect("batch");
        let start = std::time::Instant::now();
        let pool = net.forward_pool(&batch).expect("forward").to_vec2::<f32>().expect("pool");
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
    match ResNet50::from_state_dict(&sd, &Device::Cpu) {
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
    let err = VitB16::from_state_dict(&empty, &Device::Cpu).err().expect("empty state dict must fail");
    assert!(err.to_string().contains("150 problem"), "{err}");
}

#[test]
fn wrong_input_shape_is_an_error() {
    let sd = synthetic_state_dict(&resnet50_expected_tensors());
    let net = ResNet50::from_state_dict(&sd, &Device::Cpu).expect("build");
    let batch = images_to_tensor(&[RgbImage::zeros(100, 100)], ResNet50::NORMALISATION, &Device::Cpu).expect("batch");
    assert!(matches!(net.forward(&batch), Err(BackboneError::InputShape { .. })));
}

/// Every malformed batch a caller can build is an error from both networks
/// (through `forward`/`forward_pool` and through the `Backbone` trait), and
/// an empty batch gives empty outputs: nothing panics.
#[test]
fn wrong_batches_are_errors_for_both_networks() {
    fn check<B: Backbone>() -> B {
        let net = B::from_state_dict(&synthetic_state_dict(&B::expected_tensors()), &Device::Cpu).expect("build");
        let dev = Device::Cpu;
        let bad = [
            images_to_tensor(&[RgbImage::zeros(100, 100)], B::NORMALISATION, &dev).expect("100x100 batch"),
            images_to_tensor(&[RgbImage::zeros(224, 225)], B::NORMALISATION, &dev).expect("224x225 batch"),
            candle_core::Tensor::zeros((1, 1, 224, 224), candle_core::DType::F32, &dev).expect("1 channel"),
            candle_core::Tensor::zeros((3, 224, 224), candle_core::DType::F32, &dev).expect("no batch axis"),
            candle_core::Tensor::zeros((1, 3, 224, 224, 1), candle_core::DType::F32, &dev).expect("rank 5"),
        ];
        for batch in &bad {
            match net.run(batch) {
                Err(e @ BackboneError::InputShape { .. }) => println!("{}: {e}", B::NAME),
                Err(e) => panic!("{}: {:?}: expected InputShape, got {e}", B::NAME, batch.dims()),
                Ok(_) => panic!("{}: {:?} was accepted", B::NAME, batch.dims()),
            }
        }
        let mixed = [RgbImage::zeros(224, 224), RgbImage::zeros(224, 200)];
        assert!(matches!(
            images_to_tensor(&mixed, B::NORMALISATION, &dev),
            Err(BackboneError::MixedSizes { index: 1, found_h: 200, .. })
        ));
        net
    }
    let resnet = check::<ResNet50>();
    let vit = check::<VitB16>();
    // No images at all: a [0, 3, 0, 0] batch is refused, a [0, 3, 224, 224]
    // one gives empty outputs.
    let no_images = images_to_tensor(&[], Normalisation::ImageNet, &Device::Cpu).expect("no images");
    assert!(matches!(resnet.forward(&no_images), Err(BackboneError::InputShape { .. })));
    let empty = candle_core::Tensor::zeros((0, 3, 224, 224), candle_core::DType::F32, &Device::Cpu).expect("empty");
    let out = resnet.forward(&empty).expect("empty ResNet batch");
    assert_eq!(out.layer_stack.dims(), [0, LAYER_STACK_LEN]);
    assert_eq!(out.pool.dims(), [0, RESNET_POOL_LEN]);
    assert_eq!(vit.forward_pool(&empty).expect("empty ViT batch").dims(), [0, VIT_POOL_LEN]);
}
