// The API reference: every path of /openapi.json and the model's schemas as tables.
// Plain DOM code, offline, no framework (see app.js for why).
(() => {
  'use strict';

  const main = document.getElementById('doc');
  let components = {};

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'text') node.textContent = v; else if (k === 'class') node.className = v; else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function refName(schema) {
    if (!schema) return null;
    if (schema.$ref) return schema.$ref.split('/').pop();
    if (Array.isArray(schema.allOf) && schema.allOf.length === 1) return refName(schema.allOf[0]);
    return null;
  }

  function typeText(s) {
    if (!s) return '';
    const ref = refName(s);
    if (ref) {
      const target = components[ref] || {};
      return target.enum ? `${target.type || ''} (one of ${target.enum.map((v) => JSON.stringify(v)).join(', ')})` : ref;
    }
    if (s.anyOf) return s.anyOf.map(typeText).join(' | ');
    if (s.type === 'array') return `array of ${typeText(s.items || {}) || 'any'}` + (s['x-cog-array-type'] === 'iterator' ? ' (streamed)' : '');
    let t = s.type || 'any';
    if (s.format) t += ` (${s.format})`;
    if (s.enum) t += ` one of ${s.enum.map((v) => JSON.stringify(v)).join(', ')}`;
    return t + (s.nullable ? ', nullable' : '');
  }

  function constraints(s) {
    const parts = [];
    for (const [key, label] of [['minimum', '≥'], ['maximum', '≤'], ['minLength', 'min length'], ['maxLength', 'max length'], ['pattern', 'pattern']]) {
      if (s[key] !== undefined) parts.push(`${label} ${s[key]}`);
    }
    if (s['x-cog-secret']) parts.push('secret');
    if (s.deprecated) parts.push('deprecated');
    return parts.join(', ');
  }

  function schemaTable(name, schema) {
    const box = el('section', { class: 'op', id: 'schema-' + name }, el('h3', {}, el('code', { text: name })));
    if (schema.description && schema.description !== 'An enumeration.') box.append(el('p', { text: schema.description }));
    if (!schema.properties) {
      box.append(el('p', {}, 'Type: ', el('code', { text: typeText(schema) })));
      return box;
    }
    const required = new Set(schema.required || []);
    const rows = Object.entries(schema.properties).sort((a, b) => (a[1]['x-order'] ?? 1e9) - (b[1]['x-order'] ?? 1e9));
    const table = el('table', {}, el('tr', {}, ...['name', 'type', 'required', 'default', 'constraints', 'description'].map((h) => el('th', { text: h }))));
    for (const [prop, s] of rows) {
      table.append(el('tr', {}, el('td', {}, el('code', { text: prop })), el('td', { text: typeText(s) }),
        el('td', { text: required.has(prop) ? 'yes' : '' }), el('td', {}, s.default !== undefined ? el('code', { text: JSON.stringify(s.default) }) : ''),
        el('td', { text: constraints(s) }), el('td', { text: s.description || '' })));
    }
    box.append(table);
    return box;
  }

  function operation(path, method, op) {
    const box = el('section', { class: 'op' }, el('h3', {}, el('span', { class: 'method', text: method.toUpperCase() }), el('code', { text: path })));
    if (op.summary) box.append(el('p', {}, el('strong', { text: op.summary })));
    if (op.description) box.append(el('p', { text: op.description }));
    const params = op.parameters || [];
    if (params.length) {
      const table = el('table', {}, el('tr', {}, ...['parameter', 'in', 'type', 'required'].map((h) => el('th', { text: h }))));
      for (const p of params) table.append(el('tr', {}, el('td', {}, el('code', { text: p.name })), el('td', { text: p.in }), el('td', { text: typeText(p.schema) }), el('td', { text: p.required ? 'yes' : '' })));
      box.append(table);
    }
    const body = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
    if (body) box.append(el('p', {}, 'Request body: ', link(body.schema)));
    const responses = Object.entries(op.responses || {});
    if (responses.length) {
      const list = el('ul');
      for (const [code, r] of responses) {
        const content = r.content && r.content['application/json'];
        const ref = content && refName(content.schema);
        list.append(el('li', {}, el('code', { text: code }), ' ', r.description || '', ref ? ' · ' : null, ref ? link(content.schema) : null));
      }
      box.append(list);
    }
    return box;
  }

  function link(schema) {
    const ref = refName(schema);
    return ref ? el('a', { href: '#schema-' + ref }, el('code', { text: ref })) : el('code', { text: typeText(schema) });
  }

  async function start() {
    let doc;
    try {
      const resp = await fetch('openapi.json', { cache: 'no-store' });
      if (!resp.ok) throw new Error(`HTTP ${resp.status}: ${await resp.text()}`);
      doc = await resp.json();
    } catch (e) {
      main.replaceChildren(el('p', { class: 'error', text: 'cannot load openapi.json: ' + e.message }));
      return;
    }
    components = (doc.components && doc.components.schemas) || {};
    const info = doc.info || {};
    document.title = `API reference · ${info.title || 'model'}`;
    const parts = [el('p', { text: `${info.title || ''} ${info.version || ''} · OpenAPI ${doc.openapi || ''}` })];
    parts.push(el('h2', { text: 'Endpoints' }));
    for (const [path, methods] of Object.entries(doc.paths || {})) {
      for (const [method, op] of Object.entries(methods)) parts.push(operation(path, method, op));
    }
    parts.push(el('h2', { text: 'Schemas' }));
    const first = ['Input', 'Output', 'TrainingInput', 'TrainingOutput'].filter((n) => components[n]);
    const rest = Object.keys(components).filter((n) => !first.includes(n)).sort();
    for (const name of [...first, ...rest]) parts.push(schemaTable(name, components[name]));
    main.replaceChildren(...parts);
    document.body.dataset.ready = 'true';
  }

  start();
})();
