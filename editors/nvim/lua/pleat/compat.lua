-- pleat.compat: every place where Neovim 0.7 … 0.11+ differ, behind one function each.
-- The rest of the plugin calls these and never tests versions itself.

local M = {}

local uv = vim.uv or vim.loop

M.uv = uv

--- Whether this Neovim is at least `version` ("0.8", "0.11", …).
function M.has(version)
  return vim.fn.has('nvim-' .. version) == 1
end

--- "0.11.4"
function M.version_string()
  local v = vim.version()
  return string.format('%d.%d.%d', v.major, v.minor, v.patch)
end

--- client:request(…) on 0.11+ (the dot form is deprecated there), client.request(…) before.
function M.request(client, method, params, handler, bufnr)
  if M.has('0.11') then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.notify(client, method, params)
  if M.has('0.11') then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- Whether a client has stopped (or is stopping).
function M.stopped(client)
  if M.has('0.11') then
    return client:is_stopped()
  end
  return client.is_stopped()
end

--- Every running client called `name`.
function M.clients(name)
  local all
  if vim.lsp.get_clients then -- 0.10+
    all = vim.lsp.get_clients({ name = name })
  else
    all = vim.lsp.get_active_clients()
  end
  local out = {}
  for _, client in ipairs(all) do
    if client.name == name and not M.stopped(client) then
      table.insert(out, client)
    end
  end
  return out
end

--- The client called `name` attached to `bufnr`, if any.
function M.buf_client(name, bufnr)
  for _, client in ipairs(M.clients(name)) do
    if vim.lsp.buf_is_attached(bufnr, client.id) then
      return client
    end
  end
  return nil
end

--- Starts (or reuses) a client for `config.root_dir` and attaches it to `bufnr`.
--- 0.8+ has vim.lsp.start, which reuses a client of the same name and root; on 0.7 we keep
--- the map (by name and root) ourselves.
local started = {} -- name and root_dir → client id (0.7 only)
function M.start(config, bufnr)
  if vim.lsp.start then
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local key = (config.name or '') .. '\0' .. config.root_dir
  local id = started[key]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or M.stopped(client) then
    id = vim.lsp.start_client(config)
    if not id then
      return nil
    end
    started[key] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

--- Asks `client` for `bufnr`'s code lenses and shows them through Neovim's own code-lens
--- display (so vim.lsp.codelens.run() and .get() see them). Neovim's refresh() drops a request
--- while one is in flight for the buffer and, on 0.7, only knows the current buffer; a lens
--- refresh after a test run must not be dropped, so we send the request ourselves.
function M.refresh_lenses(client, bufnr)
  local codelens = vim.lsp.codelens
  if codelens.enable then
    -- 0.12+: lenses are kept up to date by Neovim once enabled for the buffer; refresh() is
    -- deprecated there.
    pcall(codelens.enable, true, { bufnr = bufnr })
    return
  end
  if not codelens.on_codelens then
    codelens.refresh({ bufnr = bufnr })
    return
  end
  local params = { textDocument = { uri = vim.uri_from_bufnr(bufnr) } }
  M.request(client, 'textDocument/codeLens', params, function(err, result, ctx)
    if not vim.api.nvim_buf_is_loaded(bufnr) then
      return
    end
    ctx = ctx or { bufnr = bufnr, client_id = client.id }
    ctx.bufnr, ctx.client_id = bufnr, client.id
    codelens.on_codelens(err, result, ctx)
  end, bufnr)
end

--- The lenses Neovim holds for `bufnr`.
function M.lenses(bufnr)
  return vim.lsp.codelens.get(bufnr) or {}
end

--- :checkhealth reporters: vim.health.start/ok/… (0.10+), vim.health.report_* (0.8, 0.9) or
--- the `health` module (0.7).
function M.health()
  local h = vim.health or require('health')
  return {
    start = h.start or h.report_start,
    ok = h.ok or h.report_ok,
    info = h.info or h.report_info,
    warn = h.warn or h.report_warn,
    error = h.error or h.report_error,
  }
end

--- The nearest ancestor of `path` (a file or folder) holding `marker`, or nil.
local function ancestor_with(path, marker)
  local dir = vim.fn.fnamemodify(path, ':p')
  if vim.fn.isdirectory(dir) == 0 then
    dir = vim.fn.fnamemodify(dir, ':h')
  end
  dir = dir:gsub('/$', '')
  while dir ~= '' do
    if uv.fs_stat(dir .. '/' .. marker) then
      return dir
    end
    local parent = vim.fn.fnamemodify(dir, ':h')
    if parent == dir then
      break
    end
    dir = parent
  end
  if uv.fs_stat('/' .. marker) then
    return '/'
  end
  return nil
end

--- The root folder for a file: the nearest ancestor holding the first of `markers` that any
--- ancestor holds (markers are in priority order, as vim.lsp.config's root_markers). A marker
--- may itself be a list of names of equal priority. With no marker, the current folder if it
--- holds the file, else the file's folder.
function M.find_root(path, markers)
  for _, marker in ipairs(markers) do
    local names = type(marker) == 'table' and marker or { marker }
    local best
    for _, name in ipairs(names) do
      local dir = ancestor_with(path, name)
      if dir and (not best or #dir > #best) then
        best = dir
      end
    end
    if best then
      return best
    end
  end
  local file = vim.fn.fnamemodify(path, ':p')
  local cwd = vim.fn.getcwd()
  if file:sub(1, #cwd + 1) == cwd .. '/' then
    return cwd
  end
  return vim.fn.fnamemodify(file, ':h')
end

--- An executable's absolute path, or nil.
function M.exepath(cmd)
  if vim.fn.executable(cmd) ~= 1 then
    return nil
  end
  local path = vim.fn.exepath(cmd)
  return path ~= '' and path or cmd
end

--- Runs argv and returns its output and exit code (blocking; for :checkhealth only).
function M.run(argv)
  local out = vim.fn.system(argv)
  return out, vim.v.shell_error
end

return M
