-- Neovim 0.11+: the configuration vim.lsp.enable("pleat") uses. Override any field with
-- vim.lsp.config("pleat", { cmd = { "/path/to/pleat", "lsp" }, settings = { pleat = { … } } }),
-- or call require("pleat").setup({...}) first: this file takes the options set there.
local pleat = require('pleat')

local config = pleat.lsp_config()
config.root_dir = function(bufnr, on_dir)
  local root = pleat.root_dir(bufnr)
  if root then
    on_dir(root)
  end
end
return config
