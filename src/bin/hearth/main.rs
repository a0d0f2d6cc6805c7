//! The `hearth` command line: runs models natively on wgpu (Vulkan/Metal/DX12). It is how the
//! kernels are exercised without a browser and how speed is measured.

#[cfg(not(target_arch = "wasm32"))]
mod commands;
#[cfg(not(target_arch = "wasm32"))]
mod load;

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    use clap::Parser;
    let cli = commands::Cli::parse();
    if let Err(e) = pollster::block_on(commands::run(cli)) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}
