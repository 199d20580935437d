//! Which Burn backend runs the model. Chosen at run time; every enabled one is available.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// A Burn execution backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Burn's pure-Rust CPU backend (NdArray's successor in Burn 0.22). The default: fastest on
    /// CPU by `cargo xtask bench encode`.
    #[default]
    Flex,
    /// The NdArray CPU backend (deprecated upstream, kept because the design asks for it).
    NdArray,
    /// WGPU: Vulkan / Metal / DX12 GPUs, or Mesa's software Vulkan (lavapipe) on CPU-only hosts.
    Wgpu,
}

impl BackendKind {
    /// Every backend compiled into this build.
    pub fn available() -> Vec<BackendKind> {
        let mut out = Vec::new();
        if cfg!(feature = "flex") {
            out.push(Self::Flex);
        }
        if cfg!(feature = "ndarray") {
            out.push(Self::NdArray);
        }
        if cfg!(feature = "wgpu") {
            out.push(Self::Wgpu);
        }
        out
    }

    /// Whether this backend's tensors live in host memory, so reading and writing them on the
    /// CPU costs no transfer (Flex, NdArray; not WGPU, even on a software Vulkan).
    pub fn host_memory(self) -> bool {
        match self {
            Self::Flex | Self::NdArray => true,
            Self::Wgpu => false,
        }
    }

    /// The device for this backend. Panics if the backend was not compiled in (see
    /// [`Self::available`]).
    #[allow(deprecated, unreachable_patterns)]
    pub fn device(self) -> Device {
        match self {
            #[cfg(feature = "flex")]
            Self::Flex => Device::flex(),
            #[cfg(feature = "ndarray")]
            Self::NdArray => Device::ndarray(),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
            other => panic!("backend {other} is not compiled into this build"),
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Flex => "flex",
            Self::NdArray => "ndarray",
            Self::Wgpu => "wgpu",
        })
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = match s.to_ascii_lowercase().as_str() {
            "flex" => Self::Flex,
            "ndarray" => Self::NdArray,
            "wgpu" => Self::Wgpu,
            _ => return Err(format!("unknown backend {s:?} (expected flex, ndarray or wgpu)")),
        };
        if Self::available().contains(&kind) {
            Ok(kind)
        } else {
            Err(format!("backend {kind} is not compiled into this build"))
        }
    }
}
