-- pleat.commands: the :Pleat* user commands and the client side of the code lenses' commands.
-- Each sends one `workspace/executeCommand` to the buffer's pleat client and shows the answer:
-- runs through vim.notify (and the quickfix list, see the `quickfix` option), file lists and
-- import chains in the quickfix list.

local compat = require('pleat.compat')
local results = require('pleat.results')

local M = {}

local function pleat()
  return require('pleat')
end

local function err(message)
  vim.notify('Pleat: ' .. message, vim.log.levels.ERROR)
end
M.err = err

--- The pleat client for the current buffer, or nil after saying why.
local function current_client(bufnr)
  local client = compat.buf_client(pleat().name, bufnr)
  if client then
    return client
  end
  local clients = compat.clients(pleat().name)
  if #clients == 1 and vim.api.nvim_buf_get_name(bufnr) == '' then
    return clients[1] -- e.g. :PleatRunAll from an empty buffer
  end
  err('no pleat language server is attached to this buffer (a Python file under a folder with '
    .. 'pleat.toml, pyproject.toml or .git; see :checkhealth pleat)')
  return nil
end

local function buffer_uri(bufnr)
  return vim.uri_from_bufnr(bufnr)
end

--- Sends `command` with one argument object; `on_result(result)` on success.
function M.execute(client, bufnr, command, argument, on_result)
  compat.request(client, 'workspace/executeCommand', { command = command, arguments = { argument } },
    function(e, result)
      if e then
        err(string.format('%s failed: %s', command, type(e) == 'table' and (e.message or vim.inspect(e)) or tostring(e)))
        return
      end
      on_result(result)
    end, bufnr)
end

--- Starts a run and reports its result when the server answers (when the run has finished).
function M.run(client, bufnr, command, argument, what)
  pleat().notify(string.format('Pleat: running %s…', what))
  M.execute(client, bufnr, command, argument, function(report)
    pleat().on_report(client, report, 'answer')
    local failed = results.failed(report)
    pleat().notify(results.summary(report), failed and vim.log.levels.WARN or vim.log.levels.INFO)
    local mode = pleat().options.quickfix
    if mode == 'fill' or mode == 'open' then
      results.to_quickfix(report, mode == 'open' and failed)
    end
  end)
end

local function relative(path)
  return vim.fn.fnamemodify(path, ':.')
end

--- Shows pleat.showDependents / showDependencies answers in the quickfix list.
local function show_files(result, title)
  local items = {}
  for _, f in ipairs(type(result.files) == 'table' and result.files or {}) do
    local filename = type(f.uri) == 'string' and vim.uri_to_fname(f.uri) or f.path
    table.insert(items, { filename = filename, lnum = tonumber(f.line) or 1, col = 1, text = f.path })
  end
  title = string.format('%s: %d file%s', title, #items, #items == 1 and '' or 's')
  vim.fn.setqflist({}, ' ', { title = title, items = items })
  if #items > 0 then
    vim.cmd('copen')
  end
  vim.notify('Pleat: ' .. title)
end

local function dependents(direction)
  return function(opts, bufnr)
    bufnr = bufnr or vim.api.nvim_get_current_buf()
    local client = current_client(bufnr)
    if not client then
      return
    end
    local transitive = opts.bang
    local command = direction == 'dependents' and 'pleat.showDependents' or 'pleat.showDependencies'
    M.execute(client, bufnr, command, { file = buffer_uri(bufnr), transitive = transitive }, function(result)
      show_files(result, string.format('%s%s of %s', transitive and 'transitive ' or '', direction,
        result.file or relative(vim.api.nvim_buf_get_name(bufnr))))
    end)
  end
end

local function is_table(v)
  return type(v) == 'table'
end

--- :PleatWhy {file}: the import chain from this file to {file}, or else from {file} to this
--- file (a test that depends on the current file), each hop with the line of its import.
local function why(opts)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = current_client(bufnr)
  if not client then
    return
  end
  local target = vim.fn.fnamemodify(vim.fn.expand(opts.args), ':p')
  local here = vim.api.nvim_buf_get_name(bufnr)
  local function show(result)
    local hops = is_table(result.hops) and result.hops or {}
    local items, chain = {}, {}
    for _, hop in ipairs(hops) do
      local filename = type(hop.uri) == 'string' and vim.uri_to_fname(hop.uri) or hop.file
      table.insert(items, { filename = filename, lnum = hop.line, col = 1, text = 'imports ' .. hop.imports })
      table.insert(chain, string.format('%s:%d', hop.file, hop.line))
    end
    table.insert(chain, result.to)
    local title = string.format('why %s → %s', result.from, result.to)
    vim.fn.setqflist({}, ' ', { title = title, items = items })
    vim.cmd('copen')
    vim.notify('Pleat: ' .. table.concat(chain, ' → '))
  end
  M.execute(client, bufnr, 'pleat.why', { from = here, to = target }, function(result)
    if is_table(result.hops) then
      return show(result)
    end
    M.execute(client, bufnr, 'pleat.why', { from = target, to = here }, function(back)
      if is_table(back.hops) then
        return show(back)
      end
      vim.notify(string.format('Pleat: no import chain between %s and %s, either way',
        result.from or relative(here), result.to or relative(target)), vim.log.levels.WARN)
    end)
  end)
end

--- A user command's callback: `fn(client, bufnr, opts)` for the current buffer's client.
local function on_client(fn)
  return function(opts)
    local bufnr = vim.api.nvim_get_current_buf()
    local client = current_client(bufnr)
    if client then
      fn(client, bufnr, opts)
    end
  end
end

local function buffer_name(bufnr)
  return relative(vim.api.nvim_buf_get_name(bufnr))
end

local run_file = on_client(function(client, bufnr, opts)
  M.run(client, bufnr, 'pleat.runTests', { files = { buffer_uri(bufnr) }, force = opts.bang },
    'the tests in ' .. buffer_name(bufnr))
end)

local run_affected = on_client(function(client, bufnr, opts)
  M.run(client, bufnr, 'pleat.runAffected', { file = buffer_uri(bufnr), force = opts.bang },
    'the tests affected by ' .. buffer_name(bufnr))
end)

local run_all = on_client(function(client, bufnr, opts)
  M.run(client, bufnr, 'pleat.runAll', { force = opts.bang }, 'all tests')
end)

--- :PleatResults: the last reports' failures in the quickfix list.
local function show_results()
  local reports = results.all()
  if #reports == 0 then
    vim.notify('Pleat: no test results yet (run :PleatRunFile, :PleatRunAffected or save a file)')
    return
  end
  local n = results.to_quickfix({ runs = reports }, true)
  vim.notify(results.summary({ runs = reports }) .. (n == 0 and '; nothing failed' or ''))
end

local clear_cache = on_client(function(client, bufnr)
  M.execute(client, bufnr, 'pleat.clearCache', {}, function()
    vim.notify('Pleat: cache cleared')
  end)
end)

--- Python language servers that read `python.pythonPath` from their settings.
M.python_servers = { 'pyright', 'basedpyright', 'pylsp' }

--- Points the Python language servers of the same workspace at the exported interpreter:
--- their settings' `python.pythonPath`, sent through `workspace/didChangeConfiguration`.
--- Returns the names of the clients told.
function M.use_interpreter(root, python)
  local told = {}
  for _, name in ipairs(M.python_servers) do
    for _, client in ipairs(compat.clients(name)) do
      if client.config.root_dir == nil or client.config.root_dir == root then
        local settings = client.config.settings or {}
        settings.python = settings.python or {}
        settings.python.pythonPath = python
        client.config.settings = settings
        compat.notify(client, 'workspace/didChangeConfiguration', { settings = settings })
        table.insert(told, name)
      end
    end
  end
  return told
end

local export = on_client(function(client, bufnr)
  pleat().notify('Pleat: exporting the virtualenv…')
  M.execute(client, bufnr, 'pleat.export', {}, function(result)
    if type(result) ~= 'table' or result.error or not result.python then
      err('the export failed: ' .. tostring(type(result) == 'table' and result.error or result))
      return
    end
    local told = M.use_interpreter(client.config.root_dir, result.python)
    local also = #told > 0 and (' (set as python.pythonPath for ' .. table.concat(told, ', ') .. ')') or ''
    vim.notify(string.format('Pleat: %s: %s%s', result.rebuilt and 'exported' or 'up to date', result.python, also))
  end)
end)

--- :PleatDebugTest: nvim-dap is asked for first, so that its absence is what is said.
local function debug_test(opts)
  local debug = require('pleat.debug')
  if not debug.dap() then
    return debug.missing()
  end
  on_client(function(client, bufnr)
    debug.debug_test(client, bufnr)
  end)(opts)
end

--- A code lens's command (client.commands): runs show their results, lists are shown.
function M.lens(command, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if not client then
    return
  end
  local argument = command.arguments and command.arguments[1] or {}
  local name = command.command
  if name == 'pleat.showDependents' then
    return dependents('dependents')({ bang = argument.transitive == true }, ctx.bufnr)
  elseif name == 'pleat.showDependencies' then
    return dependents('dependencies')({ bang = argument.transitive == true }, ctx.bufnr)
  end
  local what = command.title:gsub('^▶%s*', '')
  if name == 'pleat.runTests' and is_table(argument.tests) then
    what = table.concat(argument.tests, ', ')
  end
  M.run(client, ctx.bufnr, name, argument, what)
end

M.list = {
  { 'PleatRunAffected', run_affected, { bang = true, desc = 'Pleat: run the tests affected by this file (! reruns cached ones)' } },
  { 'PleatRunFile', run_file, { bang = true, desc = 'Pleat: run the tests in this file (! reruns cached ones)' } },
  { 'PleatRunAll', run_all, { bang = true, desc = 'Pleat: run every test (! reruns cached ones)' } },
  { 'PleatDependents', dependents('dependents'), { bang = true, desc = 'Pleat: files importing this one (! transitively)' } },
  { 'PleatDependencies', dependents('dependencies'), { bang = true, desc = 'Pleat: files this one imports (! transitively)' } },
  { 'PleatWhy', why, { nargs = 1, complete = 'file', desc = 'Pleat: the import chain between this file and another' } },
  { 'PleatDebugTest', debug_test, { desc = 'Pleat: debug the test under the cursor with nvim-dap (pleat test --debug-adapter)' } },
  { 'PleatResults', show_results, { desc = 'Pleat: the last test failures in the quickfix list' } },
  { 'PleatClearCache', clear_cache, { desc = "Pleat: clear the server's cache" } },
  { 'PleatExport', export, { desc = "Pleat: export the test environment as a virtualenv for the editor's Python tools" } },
}

--- Defines the user commands (again, harmlessly, on each call).
function M.create()
  for _, c in ipairs(M.list) do
    vim.api.nvim_create_user_command(c[1], c[2], c[3])
  end
end

return M
