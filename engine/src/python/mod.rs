//! Everything that knows Python: import inference, module resolution, the standard library and third-party names.

pub mod env_requirements;
pub mod imports;
pub mod resolve;
pub mod source_roots;
pub mod stdlib;
pub mod test_items;
pub mod third_party;
