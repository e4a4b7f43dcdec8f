-- The test's only configuration (nvim -u tests/nvim/init.lua): the plugin from editors/nvim on
-- the runtimepath, started the way PLEAT_MODE says:
--   setup  — require("pleat").setup({...}) (every version)
--   enable — setup({ autostart = false, ... }) for options, then vim.lsp.enable("pleat"),
--            which reads editors/nvim/lsp/pleat.lua (0.11+); run.sh installs the plugin as
--            a package for this mode
-- With PLEAT_PACKAGE the plugin is installed as a package (pack/*/start/pleat under the
-- test's XDG_DATA_HOME, as vim.pack or a manual install puts it) instead.
if (os.getenv('PLEAT_PACKAGE') or '') == '' then
  vim.opt.runtimepath:prepend(assert(os.getenv('PLEAT_REPO'), 'PLEAT_REPO is not set') .. '/editors/nvim')
end
vim.opt.swapfile = false
vim.opt.shadafile = 'NONE'
vim.opt.more = false

-- An empty PLEAT_BIN gives no path: the plugin finds the binary itself (run.sh puts it in the
-- fixture's .venv/bin/pleat, with no pleat on PATH).
local bin = assert(os.getenv('PLEAT_BIN'), 'PLEAT_BIN is not set')
local options = {
  path = bin ~= '' and bin or nil,
  cache_dir = os.getenv('PLEAT_CACHE_DIR'),
  quickfix = 'fill',
  notify = true,
  settings = { onSave = 'lint+tests', test = { timeout = 120 } },
}

local mode = os.getenv('PLEAT_MODE') or 'setup'
if mode == 'enable' then
  options.autostart = false
  require('pleat').setup(options)
  vim.lsp.enable('pleat')
else
  require('pleat').setup(options)
end
