-- pleat.health: `:checkhealth pleat`: Neovim's version, the pleat binary and its version, and
-- the running clients with their roots and buffers.

local compat = require('pleat.compat')

local M = {}

M.minimum = { 0, 7, 0 }

--- "pleat.toml, pyproject.toml or .git" (a nested list holds markers of equal priority)
local function markers(list)
  local names = {}
  for _, marker in ipairs(list) do
    vim.list_extend(names, type(marker) == 'table' and marker or { marker })
  end
  return table.concat(names, ', ')
end

function M.check()
  local h = compat.health()
  local pleat = require('pleat')

  h.start('Neovim')
  local v = vim.version()
  local version = compat.version_string()
  if v.major == 0 and v.minor < M.minimum[2] then
    h.error(string.format('Neovim %s is older than %d.%d, the oldest version Pleat supports', version,
      M.minimum[1], M.minimum[2]))
  else
    h.ok(string.format('Neovim %s (Pleat supports 0.7 and later)', version))
  end
  if compat.has('0.11') then
    h.info('vim.lsp.enable("pleat") uses lsp/pleat.lua; require("pleat").setup() works too')
  end

  h.start('pleat binary')
  local found = pleat.find()
  local exe = found.path and compat.exepath(found.path)
  if not exe then
    if found.path then
      h.error(string.format('%s (from %s) is not an executable', found.path, found.source))
    else
      local looked = {}
      for _, candidate in ipairs(pleat.candidates(vim.fn.getcwd())) do
        table.insert(looked, string.format('%s (%s)', candidate.path, candidate.source))
      end
      h.error('no pleat binary found; looked for pleat on PATH, then in ' .. table.concat(looked, ', '), {
        'install it: pip install pleat, uv tool install pleat or pipx install pleat (puts it on PATH)',
        "or into the project's virtualenv: .venv/bin/pip install pleat (or uv pip install pleat)",
        'or build it: cargo build --release -p pleat, then require("pleat").setup({ path = "…/target/release/pleat" })',
      })
    end
  else
    h.ok(string.format('using %s, found through %s', exe, found.source))
    local out, code = compat.run({ exe, '--version' })
    out = vim.trim(out or '')
    if code ~= 0 then
      h.error(string.format('%s --version failed (exit %d): %s', exe, code, out))
    else
      h.ok(string.format('%s: %s', exe, out))
      local _, lsp_code = compat.run({ exe, 'lsp', '--help' })
      if lsp_code == 0 then
        h.ok('it has the language server (`pleat lsp`)')
      else
        h.error(exe .. ' has no `lsp` subcommand: it is older than the language server; rebuild it')
      end
    end
  end
  local cmd = pleat.cmd()
  h.info('server command: ' .. table.concat(cmd, ' '))

  h.start('clients')
  local clients = compat.clients(pleat.name)
  if #clients == 0 then
    h.warn('no pleat client is running: open a Python file under a folder with '
      .. markers(pleat.options.root_markers)
      .. (compat.has('0.11') and ' after require("pleat").setup() or vim.lsp.enable("pleat")'
        or ' after require("pleat").setup()'))
  end
  for _, client in ipairs(clients) do
    local names = {}
    for _, buf in ipairs(vim.lsp.get_buffers_by_client_id(client.id)) do
      table.insert(names, vim.fn.fnamemodify(vim.api.nvim_buf_get_name(buf), ':~:.'))
    end
    local root = client.config and client.config.root_dir or '?'
    h.ok(string.format('client %d, root %s, attached to %s', client.id, root,
      #names > 0 and table.concat(names, ', ') or 'no buffer'))
    local status = pleat.statuses[client.id]
    if status then
      h.info(string.format('status: %s (%s)', tostring(status.state), tostring(status.message)))
    end
  end
end

return M
