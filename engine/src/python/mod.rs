//! Everything that knows Python: import inference, module resolution, the standard library and third-party names, and pytest's configuration and collection rules.

pub mod collection;
pub mod env_requirements;
pub mod file_plugins;
pub mod fnmatch;
pub mod imports;
pub mod pytest_config;
pub mod resolve;
pub mod source_roots;
pub mod stdlib;
pub mod test_items;
pub mod third_party;
