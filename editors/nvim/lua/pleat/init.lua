-- pleat: the Neovim client of `pleat lsp`. setup() starts the server for Python buffers (on
-- Neovim 0.7+); lsp/pleat.lua offers the same client configuration to vim.lsp.enable("pleat")
-- on 0.11+. Either way, attaching a buffer refreshes its code lenses, test reports
-- (pleat/testResults) refresh them again and are remembered for :PleatResults, and the
-- :Pleat* commands work on the buffer's client.

local compat = require('pleat.compat')
local results = require('pleat.results')

local M = {}

M.name = 'pleat'

--- The options setup() takes, with their defaults.
M.defaults = {
  -- The server's command line. Default: { path, ["--cache-dir", cache_dir,] "lsp" }.
  cmd = nil,
  -- The pleat binary. Default (nil): found by M.find(): `pleat` on PATH, the project's
  -- .venv/bin/pleat, then Mason's bin folder.
  path = nil,
  -- Where pleat keeps its caches (its --cache-dir); default: pleat's own choice.
  cache_dir = nil,
  -- Server settings (see the README): onSave, lint = { tools }, typecheck, test = { timeout }.
  settings = {},
  -- Root markers in priority order (a nested list holds markers of equal priority).
  root_markers = { 'pleat.toml', 'pyproject.toml', '.git' },
  filetypes = { 'python' },
  -- Start the server for matching buffers (setup() only).
  autostart = true,
  -- Keep code lenses up to date (on attach, save, enter, leaving insert mode, test results).
  codelens = true,
  -- After :PleatRun* commands: "off" (leave the quickfix list alone), "fill" (replace it with
  -- the failures), "open" (fill it and open the window when something failed).
  quickfix = 'off',
  -- Report finished runs with vim.notify.
  notify = true,
  -- Called after the plugin's own work when a buffer attaches: function(client, bufnr).
  on_attach = nil,
}

M.options = vim.deepcopy(M.defaults)

--- The last `pleat/status` per client id: { state, message, passed?, failed? }.
M.statuses = {}

local function notify(message, level)
  if M.options.notify or (level or vim.log.levels.INFO) >= vim.log.levels.WARN then
    vim.notify(message, level or vim.log.levels.INFO)
  end
end
M.notify = notify

--- The places M.find() looks for the binary when no `cmd` or `path` is given, in order, for a
--- project rooted at `root`: { { path, source } }.
function M.candidates(root)
  local sep = package.config:sub(1, 1)
  local candidates = {}
  local on_path = compat.exepath('pleat')
  if on_path then
    table.insert(candidates, { path = on_path, source = 'PATH' })
  end
  table.insert(candidates, { path = table.concat({ root, '.venv', 'bin', 'pleat' }, sep), source = "the project's .venv" })
  table.insert(candidates, {
    path = table.concat({ vim.fn.stdpath('data'), 'mason', 'bin', 'pleat' }, sep),
    source = 'Mason',
  })
  return candidates
end

--- The binary and where it came from, for a project rooted at `root` (default: the current
--- folder): setup({ cmd = … }) or setup({ path = … }), else `pleat` on PATH, the project's
--- .venv/bin/pleat (`pip install pleat` or `uv tool install` into the project), Mason's
--- bin/pleat. Returns { path, source } with path nil when none is found.
function M.find(root)
  if M.options.cmd then
    return { path = M.options.cmd[1], source = 'setup({ cmd = … })' }
  end
  if M.options.path then
    -- "~/src/pleat/…": no shell expands it later
    return { path = vim.fn.expand(M.options.path), source = 'setup({ path = … })' }
  end
  for _, candidate in ipairs(M.candidates(root or vim.fn.getcwd())) do
    if vim.fn.executable(candidate.path) == 1 then
      return candidate
    end
  end
  return { path = nil, source = 'nowhere' }
end

function M.cmd(root)
  if M.options.cmd then
    return M.options.cmd
  end
  -- Nothing found: "pleat", so that the start fails with Neovim's own message and
  -- :checkhealth pleat says how to install it.
  local cmd = { M.find(root).path or 'pleat' }
  if M.options.cache_dir then
    vim.list_extend(cmd, { '--cache-dir', vim.fn.expand(M.options.cache_dir) })
  end
  table.insert(cmd, 'lsp')
  return cmd
end

--- Refreshes the lenses of every buffer `client` is attached to (or only `bufnr`).
function M.refresh_lenses(client, bufnr)
  if not M.options.codelens then
    return
  end
  local buffers = bufnr and { bufnr } or vim.lsp.get_buffers_by_client_id(client.id)
  for _, buf in ipairs(buffers) do
    if vim.api.nvim_buf_is_loaded(buf) then
      compat.refresh_lenses(client, buf)
    end
  end
end

--- Handles a test report (`source`: "answer" to a command or "notification", pleat/testResults):
--- remembered, lenses refreshed, the User event PleatTestResults fired.
function M.on_report(client, report, source)
  results.store(report, source)
  if client then
    M.refresh_lenses(client)
  end
  vim.api.nvim_exec_autocmds('User', { pattern = 'PleatTestResults', modeline = false })
end

M.handlers = {
  ['pleat/testResults'] = function(err, report, ctx)
    if err or type(report) ~= 'table' then
      return
    end
    M.on_report(vim.lsp.get_client_by_id(ctx.client_id), report, 'notification')
  end,
  ['pleat/status'] = function(err, status, ctx)
    if err or type(status) ~= 'table' then
      return
    end
    M.statuses[ctx.client_id] = status
    local client = vim.lsp.get_client_by_id(ctx.client_id)
    if client and status.state == 'idle' then
      -- Indexing finished or a run ended: lenses requested before may have been empty.
      M.refresh_lenses(client)
    end
    vim.api.nvim_exec_autocmds('User', { pattern = 'PleatStatus', modeline = false })
    -- A statusline showing pleat.status() is redrawn now, not at the next keystroke.
    vim.cmd('redrawstatus!')
  end,
}

--- For statuslines: "Pleat: ✓ 42 ✕ 1", "Pleat: running 3 test files", "" without a client.
function M.status(bufnr)
  local client = compat.buf_client(M.name, bufnr or vim.api.nvim_get_current_buf())
  local status = client and M.statuses[client.id]
  if not status then
    return client and 'Pleat' or ''
  end
  return 'Pleat: ' .. tostring(status.message or status.state)
end

local attached = {} -- "client:buf" → true

--- What happens when a pleat client attaches to a buffer (from LspAttach on 0.8+, from
--- on_attach on 0.7).
function M.on_attach(client, bufnr)
  local key = client.id .. ':' .. bufnr
  if attached[key] then
    return
  end
  attached[key] = true
  if M.options.codelens then
    local group = vim.api.nvim_create_augroup('pleat_lenses_' .. key, { clear = true })
    vim.api.nvim_create_autocmd({ 'BufEnter', 'BufWritePost', 'InsertLeave' }, {
      group = group,
      buffer = bufnr,
      callback = function()
        local c = vim.lsp.get_client_by_id(client.id)
        if c and not compat.stopped(c) then
          compat.refresh_lenses(c, bufnr)
        end
      end,
    })
    vim.api.nvim_create_autocmd('BufUnload', {
      group = group,
      buffer = bufnr,
      callback = function()
        attached[key] = nil
      end,
    })
    -- The workspace may still be indexing; its lenses are asked again when the server reports
    -- idle (pleat/status) and, for servers without that, a moment later.
    compat.refresh_lenses(client, bufnr)
    vim.defer_fn(function()
      local c = vim.lsp.get_client_by_id(client.id)
      if c and not compat.stopped(c) and vim.api.nvim_buf_is_loaded(bufnr) and #compat.lenses(bufnr) == 0 then
        compat.refresh_lenses(c, bufnr)
      end
    end, 1500)
  end
  if M.options.on_attach then
    M.options.on_attach(client, bufnr)
  end
end

--- Lens commands run in the client, so that their answers are shown (a server command's
--- answer is otherwise dropped by Neovim).
local function lens_commands()
  local commands = require('pleat.commands')
  return {
    ['pleat.runTests'] = commands.lens,
    ['pleat.runAffected'] = commands.lens,
    ['pleat.runAll'] = commands.lens,
    ['pleat.showDependents'] = commands.lens,
    ['pleat.showDependencies'] = commands.lens,
    -- Shown only when nvim-dap is there (see lsp_config's capabilities).
    ['pleat.debugTest'] = require('pleat.debug').lens,
  }
end

--- The client configuration, as vim.lsp.start()/start_client() and vim.lsp.config() take it.
function M.lsp_config(root)
  local settings = M.options.settings or {}
  local config = {
    name = M.name,
    cmd = M.cmd(root),
    filetypes = M.options.filetypes,
    init_options = settings,
    settings = { pleat = settings },
    handlers = M.handlers,
    commands = lens_commands(),
    -- experimental.pleatDebugTest when nvim-dap is installed: "▶ Debug test" lenses.
    capabilities = require('pleat.debug').capabilities(),
  }
  if not compat.has('0.8') then
    -- No LspAttach event on 0.7.
    config.on_attach = M.on_attach
  end
  return config
end

--- The root folder for a buffer.
function M.root_dir(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == '' then
    return nil
  end
  return compat.find_root(name, M.options.root_markers)
end

--- Starts (or reuses) the client for a buffer's root and attaches it.
function M.attach(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  if vim.bo[bufnr].buftype ~= '' or not vim.tbl_contains(M.options.filetypes, vim.bo[bufnr].filetype) then
    return nil
  end
  local root = M.root_dir(bufnr)
  if not root then
    return nil
  end
  local config = M.lsp_config(root)
  config.root_dir = root
  config.workspace_folders = { { uri = vim.uri_from_fname(root), name = root } }
  return compat.start(config, bufnr)
end

local autocmds_set = false
--- The LspAttach hook (0.8+), set once whichever way the client was started.
function M.set_autocmds()
  if autocmds_set or not compat.has('0.8') then
    return
  end
  autocmds_set = true
  vim.api.nvim_create_autocmd('LspAttach', {
    group = vim.api.nvim_create_augroup('pleat_attach', { clear = true }),
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == M.name then
        M.on_attach(client, args.buf)
      end
    end,
  })
end

--- setup({...}): options (see M.defaults), then the server starts for every buffer of the
--- filetypes, those already open included (setup() may run lazily, from their FileType event).
function M.setup(opts)
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  if opts and opts.root_markers then
    M.options.root_markers = opts.root_markers -- lists are replaced, not merged
  end
  if opts and opts.filetypes then
    M.options.filetypes = opts.filetypes
  end
  require('pleat.commands').create()
  M.set_autocmds()
  if not M.options.autostart then
    return
  end
  local group = vim.api.nvim_create_augroup('pleat_start', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.options.filetypes,
    callback = function(args)
      M.attach(args.buf)
    end,
  })
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) then
      M.attach(buf)
    end
  end
end

return M
