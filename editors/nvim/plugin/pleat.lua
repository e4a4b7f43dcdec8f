-- Pleat's user commands and LspAttach hook exist as soon as the plugin is on the runtimepath,
-- so that vim.lsp.enable("pleat") (0.11+, through lsp/pleat.lua) works without setup().
-- setup() starts the server itself; see editors/nvim/README.md.
if vim.g.loaded_pleat or vim.fn.has('nvim-0.7') == 0 then
  return
end
vim.g.loaded_pleat = true

require('pleat.commands').create()
require('pleat').set_autocmds()
