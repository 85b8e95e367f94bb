// The `Parse` global of Basalt's cloud code, written for Basalt. It gives cloud code the API it
// uses on Parse Server and talks to the server in-process through `__basalt` (native functions
// provided by basalt-cloud): `request(method, path, body, options)` runs a REST-shaped call
// against the engine and returns JSON text; `resolve`, `read` and `compile` load CommonJS
// modules; `log` writes to the server log.
(function (global) {
  'use strict';
  const native = global.__basalt;

  // ---- errors -------------------------------------------------------------------------------
  class ParseError extends Error {
    constructor(code, message) {
      super(message);
      this.code = code;
      this.name = 'ParseError';
    }
    toString() {
      return `ParseError: ${this.code} ${this.message}`;
    }
  }
  Object.assign(ParseError, {
    OTHER_CAUSE: -1, INTERNAL_SERVER_ERROR: 1, CONNECTION_FAILED: 100, OBJECT_NOT_FOUND: 101,
    INVALID_QUERY: 102, INVALID_CLASS_NAME: 103, MISSING_OBJECT_ID: 104, INVALID_KEY_NAME: 105,
    INVALID_POINTER: 106, INVALID_JSON: 107, COMMAND_UNAVAILABLE: 108, NOT_INITIALIZED: 109,
    INCORRECT_TYPE: 111, INVALID_CHANNEL_NAME: 112, PUSH_MISCONFIGURED: 115, OBJECT_TOO_LARGE: 116,
    OPERATION_FORBIDDEN: 119, CACHE_MISS: 120, INVALID_NESTED_KEY: 121, INVALID_FILE_NAME: 122,
    INVALID_ACL: 123, TIMEOUT: 124, INVALID_EMAIL_ADDRESS: 125, DUPLICATE_VALUE: 137,
    INVALID_ROLE_NAME: 139, EXCEEDED_QUOTA: 140, SCRIPT_FAILED: 141, VALIDATION_ERROR: 142,
    FILE_SAVE_ERROR: 130, FILE_DELETE_ERROR: 153, FILE_DELETE_UNNAMED_ERROR: 161, FILE_READ_ERROR: 601,
    INVALID_VALUE: 162, USERNAME_MISSING: 200, PASSWORD_MISSING: 201,
    USERNAME_TAKEN: 202, EMAIL_TAKEN: 203, EMAIL_MISSING: 204, EMAIL_NOT_FOUND: 205,
    SESSION_MISSING: 206, ACCOUNT_ALREADY_LINKED: 208, INVALID_SESSION_TOKEN: 209,
  });

  function call(method, path, body, options) {
    const opts = {};
    if (options && options.useMasterKey) opts.useMasterKey = true;
    if (options && typeof options.sessionToken === 'string') opts.sessionToken = options.sessionToken;
    if (options && options.context && typeof options.context === 'object') opts.context = options.context;
    const answer = JSON.parse(native.request(method, path, JSON.stringify(body || {}), JSON.stringify(opts)));
    if (answer.error) throw new ParseError(answer.error.code, answer.error.message);
    return answer.ok;
  }

  // ---- values ---------------------------------------------------------------------------------
  class GeoPoint {
    constructor(latitude, longitude) {
      if (latitude && typeof latitude === 'object') {
        longitude = latitude.longitude;
        latitude = latitude.latitude;
      }
      this.latitude = latitude || 0;
      this.longitude = longitude || 0;
    }
    toJSON() {
      return { __type: 'GeoPoint', latitude: this.latitude, longitude: this.longitude };
    }
  }

  /** Parse.File: data from `{ base64 }` (a data: URL too) or an array / Uint8Array of bytes;
   * `save` stores it through the server's file storage, `getData` reads it back as base64. */
  class ParseFile {
    constructor(name, data, type) {
      this._name = name;
      this._url = undefined;
      this._type = type;
      this._source = undefined;
      if (data === undefined) return;
      if (Array.isArray(data) || data instanceof Uint8Array) {
        this._source = { bytes: Array.from(data) };
      } else if (data && typeof data.base64 === 'string') {
        const match = /^data:([^;]*);base64,(.*)$/s.exec(data.base64);
        if (match) {
          this._type = this._type || match[1];
          this._source = { base64: match[2] };
        } else {
          this._source = { base64: data.base64 };
        }
        if (data.type) this._type = data.type;
      } else {
        throw new TypeError('Cannot create a Parse.File with that data.');
      }
    }
    static _fromJSON(json) {
      const file = new ParseFile(json.name);
      file._url = json.url;
      return file;
    }
    name() { return this._name; }
    url() { return this._url; }
    save(options) {
      return new Promise((resolve) => {
        if (!this._url) {
          if (!this._source) throw new ParseError(ParseError.FILE_SAVE_ERROR, 'Cannot save a file without data.');
          const body = Object.assign({}, this._source);
          if (this._type) body.contentType = this._type;
          const saved = call('POST', `files/${this._name}`, body, options);
          this._name = saved.name;
          this._url = saved.url;
        }
        resolve(this);
      });
    }
    getData() {
      return new Promise((resolve) => {
        if (this._source && this._source.base64 !== undefined) {
          resolve(this._source.base64);
          return;
        }
        if (!this._url) throw new ParseError(ParseError.FILE_SAVE_ERROR, 'Cannot retrieve data for unsaved ParseFile.');
        resolve(call('GET', `files/${this._name}`, {}, {}).base64);
      });
    }
    destroy(options) {
      return new Promise((resolve) => {
        if (!this._name) throw new ParseError(ParseError.FILE_DELETE_UNNAMED_ERROR, 'Cannot delete an unnamed file.');
        call('DELETE', `files/${this._name}`, {}, masterByDefault(options));
        resolve(this);
      });
    }
    equals(other) { return other instanceof ParseFile && other._name === this._name && other._url === this._url; }
    toJSON() {
      if (!this._url) throw new Error('Tried to encode an unsaved file.');
      return { __type: 'File', name: this._name, url: this._url };
    }
  }

  class ACL {
    constructor(json) {
      this.permissions = {};
      if (json instanceof ParseObject) {
        this.setReadAccess(json, true);
        this.setWriteAccess(json, true);
      } else if (json && typeof json === 'object') {
        for (const key of Object.keys(json)) this.permissions[key] = Object.assign({}, json[key]);
      }
    }
    static key(entity) {
      if (entity instanceof ParseObject) return entity.className === '_Role' ? `role:${entity.get('name')}` : entity.id;
      return entity;
    }
    set(entity, kind, allowed) {
      const key = ACL.key(entity);
      const entry = this.permissions[key] || {};
      if (allowed) entry[kind] = true;
      else delete entry[kind];
      if (Object.keys(entry).length) this.permissions[key] = entry;
      else delete this.permissions[key];
    }
    get(entity, kind) {
      const entry = this.permissions[ACL.key(entity)];
      return !!(entry && entry[kind]);
    }
    setReadAccess(entity, allowed) { this.set(entity, 'read', allowed); }
    setWriteAccess(entity, allowed) { this.set(entity, 'write', allowed); }
    getReadAccess(entity) { return this.get(entity, 'read'); }
    getWriteAccess(entity) { return this.get(entity, 'write'); }
    setPublicReadAccess(allowed) { this.set('*', 'read', allowed); }
    setPublicWriteAccess(allowed) { this.set('*', 'write', allowed); }
    getPublicReadAccess() { return this.get('*', 'read'); }
    getPublicWriteAccess() { return this.get('*', 'write'); }
    setRoleReadAccess(role, allowed) { this.set(`role:${typeof role === 'string' ? role : role.get('name')}`, 'read', allowed); }
    setRoleWriteAccess(role, allowed) { this.set(`role:${typeof role === 'string' ? role : role.get('name')}`, 'write', allowed); }
    toJSON() { return JSON.parse(JSON.stringify(this.permissions)); }
  }

  /** Parse's JSON encoding of a value; `full` encodes objects whole (results), else as pointers. */
  function encode(value, full) {
    if (value === undefined) return undefined;
    if (value === null) return null;
    if (value instanceof Date) return { __type: 'Date', iso: value.toISOString() };
    if (value instanceof ParseObject) return full ? value._toFullJSON() : value.toPointer();
    if (value instanceof GeoPoint || value instanceof ACL || value instanceof ParseFile) return value.toJSON();
    if (Array.isArray(value)) return value.map((item) => encode(item, full));
    if (typeof value === 'object') {
      if (value.__op && Array.isArray(value.objects)) {
        return Object.assign({}, value, { objects: value.objects.map((item) => encode(item, false)) });
      }
      if (value.__type || value.__op) return value;
      const out = {};
      for (const key of Object.keys(value)) out[key] = encode(value[key], full);
      return out;
    }
    return value;
  }

  function decode(value) {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map(decode);
    switch (value.__type) {
      case 'Date': return new Date(value.iso);
      case 'GeoPoint': return new GeoPoint(value.latitude, value.longitude);
      case 'Pointer': return ParseObject._fromPointer(value.className, value.objectId);
      case 'Object': return ParseObject.fromJSON(value);
      case 'File': return ParseFile._fromJSON(value);
      case 'Bytes': case 'Polygon': case 'Relation': return value;
      default: break;
    }
    const out = {};
    for (const key of Object.keys(value)) out[key] = decode(value[key]);
    return out;
  }

  // ---- objects --------------------------------------------------------------------------------
  const subclasses = {};
  const SYSTEM_ROUTES = { _User: 'users', _Role: 'roles', _Session: 'sessions', _Installation: 'installations' };
  const RESERVED = ['objectId', 'createdAt', 'updatedAt', 'className', 'ACL'];

  class ParseObject {
    constructor(className, attributes) {
      if (typeof className === 'object' && className !== null) {
        attributes = className;
        className = undefined;
      }
      this.className = className || this.constructor.className || (this.constructor._className);
      this.id = undefined;
      this.createdAt = undefined;
      this.updatedAt = undefined;
      this._server = {};
      this._changes = {};
      if (attributes) this.set(attributes);
    }
    static _classFor(className) {
      return subclasses[className] || SYSTEM_CLASSES[className] || null;
    }
    static _fromPointer(className, objectId) {
      const Class = ParseObject._classFor(className);
      const object = Class ? new Class() : new ParseObject(className);
      object.className = className;
      object.id = objectId;
      return object;
    }
    static fromJSON(json) {
      const object = ParseObject._fromPointer(json.className, json.objectId);
      object._applyServer(json);
      return object;
    }
    static createWithoutData(objectId) {
      return ParseObject._fromPointer(this.className || this._className, objectId);
    }
    static extend(className, protoProps, classProps) {
      if (typeof className === 'object') {
        protoProps = className;
        className = protoProps.className;
      }
      const Parent = this;
      class Subclass extends Parent {
        constructor(attributes) {
          super(className, attributes);
          if (typeof this.initialize === 'function') this.initialize(attributes);
        }
      }
      Subclass.className = className;
      Object.assign(Subclass.prototype, protoProps || {});
      Object.assign(Subclass, classProps || {});
      subclasses[className] = Subclass;
      return Subclass;
    }
    static registerSubclass(className, Class) {
      subclasses[className] = Class;
      Class.className = className;
    }
    _route() {
      const system = SYSTEM_ROUTES[this.className];
      return system ? `classes/${this.className}` : `classes/${this.className}`;
    }
    _applyServer(json) {
      for (const key of Object.keys(json)) {
        if (key === '__type' || key === 'className') continue;
        if (key === 'objectId') this.id = json.objectId;
        else if (key === 'createdAt') this.createdAt = new Date(json.createdAt);
        else if (key === 'updatedAt') this.updatedAt = new Date(json.updatedAt);
        else this._server[key] = key === 'ACL' ? new ACL(json.ACL) : decode(json[key]);
      }
      if (json.sessionToken) this._server.sessionToken = json.sessionToken;
    }
    get(key) {
      if (key === 'objectId') return this.id;
      if (key === 'createdAt') return this.createdAt;
      if (key === 'updatedAt') return this.updatedAt;
      if (Object.prototype.hasOwnProperty.call(this._changes, key)) {
        const change = this._changes[key];
        if (change && change.__op === 'Delete') return undefined;
        if (change && change.__op === 'Increment') return (this._server[key] || 0) + change.amount;
        if (change && change.__op) return this._server[key];
        return change;
      }
      const stored = this._server[key];
      if (stored && stored.__type === 'Relation') return this.relation(key);
      return stored;
    }
    has(key) { return this.get(key) !== undefined && this.get(key) !== null; }
    set(key, value) {
      if (typeof key === 'object' && key !== null) {
        for (const name of Object.keys(key)) this.set(name, key[name]);
        return this;
      }
      if (key === 'objectId') { this.id = value; return this; }
      if (RESERVED.includes(key) && key !== 'ACL') throw new ParseError(ParseError.INVALID_KEY_NAME, `Invalid field name: ${key}.`);
      this._changes[key] = value;
      return this;
    }
    unset(key) { this._changes[key] = { __op: 'Delete' }; return this; }
    increment(key, amount) {
      const by = amount === undefined ? 1 : amount;
      const previous = this._changes[key];
      const base = previous && previous.__op === 'Increment' ? previous.amount : 0;
      this._changes[key] = { __op: 'Increment', amount: base + by };
      return this;
    }
    decrement(key, amount) { return this.increment(key, -(amount === undefined ? 1 : amount)); }
    add(key, item) { return this._arrayOp('Add', key, [item]); }
    addAll(key, items) { return this._arrayOp('Add', key, items); }
    addUnique(key, item) { return this._arrayOp('AddUnique', key, [item]); }
    addAllUnique(key, items) { return this._arrayOp('AddUnique', key, items); }
    remove(key, item) { return this._arrayOp('Remove', key, [item]); }
    removeAll(key, items) { return this._arrayOp('Remove', key, items); }
    _arrayOp(op, key, items) {
      const previous = this._changes[key];
      const objects = previous && previous.__op === op ? previous.objects.concat(items) : items;
      this._changes[key] = { __op: op, objects };
      return this;
    }
    /** The Relation in `key`: add/remove members (saved with the object), query() them. */
    relation(key) {
      const relation = new ParseRelation(this, key);
      const stored = this._server[key];
      if (stored && stored.__type === 'Relation') relation.targetClassName = stored.className;
      return relation;
    }
    _relationOp(op, key, objects) {
      const previous = this._changes[key];
      const merged = previous && previous.__op === op ? previous.objects.concat(objects) : objects;
      this._changes[key] = { __op: op, objects: merged };
    }
    getACL() { return this.get('ACL'); }
    setACL(acl) { this._changes.ACL = acl; return this; }
    dirty(key) { return key ? Object.prototype.hasOwnProperty.call(this._changes, key) : Object.keys(this._changes).length > 0; }
    isNew() { return !this.id; }
    toPointer() { return { __type: 'Pointer', className: this.className, objectId: this.id }; }
    _toFullJSON() {
      const out = { __type: 'Object', className: this.className };
      if (this.id) out.objectId = this.id;
      if (this.createdAt) out.createdAt = this.createdAt.toISOString();
      if (this.updatedAt) out.updatedAt = this.updatedAt.toISOString();
      const keys = new Set(Object.keys(this._server).concat(Object.keys(this._changes)));
      for (const key of keys) {
        const value = this.get(key);
        if (value !== undefined) out[key] = key === 'ACL' && value instanceof ACL ? value.toJSON() : encode(value, true);
      }
      return out;
    }
    toJSON() {
      const out = this._toFullJSON();
      delete out.__type;
      return out;
    }
    _body() {
      const body = {};
      for (const key of Object.keys(this._changes)) body[key] = encode(this._changes[key], false);
      return body;
    }
    save(key, value, options) {
      let opts = options;
      if (typeof key === 'object' && key !== null) {
        opts = value;
        this.set(key);
      } else if (typeof key === 'string') {
        this.set(key, value);
      } else {
        opts = value;
      }
      return new Promise((resolve) => {
        const body = this._body();
        const answer = this.id
          ? call('PUT', `${this._route()}/${this.id}`, body, opts)
          : call('POST', this._route(), body, opts);
        const applied = {};
        for (const name of Object.keys(this._changes)) {
          const change = this._changes[name];
          if (!(change && change.__op)) applied[name] = change;
          else if (change.__op === 'Delete') delete this._server[name];
        }
        Object.assign(this._server, applied);
        this._changes = {};
        this._applyServer(answer);
        // A create answers createdAt only; the object's updatedAt is the same moment.
        if (!answer.updatedAt && answer.createdAt) this.updatedAt = new Date(answer.createdAt);
        resolve(this);
      });
    }
    fetch(options) {
      return new Promise((resolve) => {
        const answer = call('GET', `${this._route()}/${this.id}`, {}, options);
        this._server = {};
        this._changes = {};
        this._applyServer(answer);
        resolve(this);
      });
    }
    destroy(options) {
      return new Promise((resolve) => {
        call('DELETE', `${this._route()}/${this.id}`, {}, options);
        resolve(this);
      });
    }
    static saveAll(objects, options) {
      return Promise.all(objects.map((object) => object.save(null, options)));
    }
    static destroyAll(objects, options) {
      return Promise.all(objects.map((object) => object.destroy(options)));
    }
  }

  class ParseUser extends ParseObject {
    constructor(attributes) { super('_User', attributes); }
    getUsername() { return this.get('username'); }
    setUsername(username) { return this.set('username', username); }
    setPassword(password) { return this.set('password', password); }
    getEmail() { return this.get('email'); }
    setEmail(email) { return this.set('email', email); }
    getSessionToken() { return this._server.sessionToken; }
  }
  ParseUser.className = '_User';

  class ParseRole extends ParseObject {
    constructor(name, acl) {
      super('_Role');
      if (typeof name === 'string') this.set('name', name);
      if (acl) this.setACL(acl);
    }
    getName() { return this.get('name'); }
  }
  ParseRole.className = '_Role';

  class ParseInstallation extends ParseObject {
    constructor(attributes) { super('_Installation', attributes); }
  }
  ParseInstallation.className = '_Installation';

  class ParseSession extends ParseObject {
    constructor(attributes) { super('_Session', attributes); }
    getSessionToken() { return this.get('sessionToken'); }
  }
  ParseSession.className = '_Session';

  const SYSTEM_CLASSES = { _User: ParseUser, _Role: ParseRole, _Installation: ParseInstallation, _Session: ParseSession };

  // ---- queries --------------------------------------------------------------------------------
  function quote(text) {
    return `\\Q${String(text).replace(/\\E/g, '\\E\\\\E\\Q')}\\E`;
  }

  class ParseQuery {
    constructor(objectClass) {
      if (typeof objectClass === 'string') this.className = objectClass;
      else if (objectClass && objectClass.className) this.className = objectClass.className;
      else if (objectClass && objectClass.prototype && objectClass.prototype.className) this.className = objectClass.prototype.className;
      else throw new TypeError('A ParseQuery must be constructed with a ParseObject or class name.');
      this._where = {};
      this._include = [];
      this._keys = null;
      this._exclude = null;
      this._limit = -1;
      this._skip = 0;
      this._order = [];
    }
    _constraint(key, operator, value) {
      const existing = this._where[key];
      const base = existing && typeof existing === 'object' && !existing.__type && !Array.isArray(existing)
        && Object.keys(existing).every((name) => name.startsWith('$')) ? existing : {};
      base[operator] = encode(value, false);
      this._where[key] = base;
      return this;
    }
    equalTo(key, value) {
      if (typeof key === 'object') { for (const name of Object.keys(key)) this.equalTo(name, key[name]); return this; }
      this._where[key] = encode(value, false);
      return this;
    }
    notEqualTo(key, value) { return this._constraint(key, '$ne', value); }
    lessThan(key, value) { return this._constraint(key, '$lt', value); }
    lessThanOrEqualTo(key, value) { return this._constraint(key, '$lte', value); }
    greaterThan(key, value) { return this._constraint(key, '$gt', value); }
    greaterThanOrEqualTo(key, value) { return this._constraint(key, '$gte', value); }
    containedIn(key, values) { return this._constraint(key, '$in', values); }
    notContainedIn(key, values) { return this._constraint(key, '$nin', values); }
    containsAll(key, values) { return this._constraint(key, '$all', values); }
    containedBy(key, values) { return this._constraint(key, '$containedBy', values); }
    exists(key) { return this._constraint(key, '$exists', true); }
    doesNotExist(key) { return this._constraint(key, '$exists', false); }
    matches(key, regex, modifiers) {
      this._constraint(key, '$regex', typeof regex === 'string' ? regex : regex.source);
      const flags = modifiers || (typeof regex === 'object' ? regex.flags : '');
      if (flags) this._where[key].$options = flags;
      return this;
    }
    startsWith(key, prefix) { return this._constraint(key, '$regex', `^${quote(prefix)}`); }
    endsWith(key, suffix) { return this._constraint(key, '$regex', `${quote(suffix)}$`); }
    contains(key, text) { return this._constraint(key, '$regex', quote(text)); }
    matchesQuery(key, query) { return this._constraint(key, '$inQuery', { className: query.className, where: query._where }); }
    doesNotMatchQuery(key, query) { return this._constraint(key, '$notInQuery', { className: query.className, where: query._where }); }
    matchesKeyInQuery(key, queryKey, query) {
      return this._constraint(key, '$select', { key: queryKey, query: { className: query.className, where: query._where } });
    }
    doesNotMatchKeyInQuery(key, queryKey, query) {
      return this._constraint(key, '$dontSelect', { key: queryKey, query: { className: query.className, where: query._where } });
    }
    include(...keys) { for (const key of keys.flat()) this._include.push(key); return this; }
    select(...keys) { this._keys = (this._keys || []).concat(keys.flat()); return this; }
    exclude(...keys) { this._exclude = (this._exclude || []).concat(keys.flat()); return this; }
    limit(count) { this._limit = count; return this; }
    skip(count) { this._skip = count; return this; }
    ascending(...keys) { this._order = keys.flat(); return this; }
    addAscending(...keys) { this._order = this._order.concat(keys.flat()); return this; }
    descending(...keys) { this._order = keys.flat().map((key) => `-${key}`); return this; }
    addDescending(...keys) { this._order = this._order.concat(keys.flat().map((key) => `-${key}`)); return this; }
    toJSON() {
      const params = { where: this._where };
      if (this._include.length) params.include = this._include.join(',');
      if (this._keys) params.keys = this._keys.join(',');
      if (this._exclude) params.excludeKeys = this._exclude.join(',');
      if (this._limit >= 0) params.limit = this._limit;
      if (this._skip > 0) params.skip = this._skip;
      if (this._order.length) params.order = this._order.join(',');
      if (this._redirectKey) params.redirectClassNameForKey = this._redirectKey;
      return params;
    }
    _results(params, options) {
      const answer = call('GET', `classes/${this.className}`, params, options);
      return answer.results.map((json) => ParseObject.fromJSON(Object.assign({ className: this.className }, json)));
    }
    find(options) {
      return new Promise((resolve) => resolve(this._results(this.toJSON(), options)));
    }
    first(options) {
      return new Promise((resolve) => {
        const params = this.toJSON();
        params.limit = 1;
        resolve(this._results(params, options)[0]);
      });
    }
    get(objectId, options) {
      return new Promise((resolve) => {
        const params = this.toJSON();
        params.where = Object.assign({}, params.where, { objectId });
        params.limit = 1;
        const found = this._results(params, options)[0];
        if (!found) throw new ParseError(ParseError.OBJECT_NOT_FOUND, 'Object not found.');
        resolve(found);
      });
    }
    count(options) {
      return new Promise((resolve) => {
        const params = this.toJSON();
        params.limit = 0;
        params.count = 1;
        resolve(call('GET', `classes/${this.className}`, params, options).count);
      });
    }
    /** Distinct values of `key` among the matching objects; master key unless told otherwise,
     * as the JS SDK does. */
    distinct(key, options) {
      return new Promise((resolve) => {
        const params = { distinct: key };
        if (Object.keys(this._where).length) params.where = this._where;
        resolve(decode(call('GET', `aggregate/${this.className}`, params, masterByDefault(options)).results));
      });
    }
    aggregate(pipeline, options) {
      return new Promise((resolve) => {
        if (!pipeline || typeof pipeline !== 'object') throw new ParseError(ParseError.INVALID_QUERY, 'Invalid pipeline must be Array or Object');
        const params = { pipeline: Array.isArray(pipeline) ? pipeline : [pipeline] };
        resolve(call('GET', `aggregate/${this.className}`, params, masterByDefault(options)).results);
      });
    }
    async each(callback, options) {
      for (const object of await this.find(options)) await callback(object);
    }
    static or(...queries) { return ParseQuery._compound('$or', queries); }
    static and(...queries) { return ParseQuery._compound('$and', queries); }
    static nor(...queries) { return ParseQuery._compound('$nor', queries); }
    static _compound(operator, queries) {
      const query = new ParseQuery(queries[0].className);
      query._where[operator] = queries.map((inner) => inner._where);
      return query;
    }
  }

  function masterByDefault(options) {
    return Object.assign({ useMasterKey: true }, options || {});
  }

  // ---- outbound HTTP --------------------------------------------------------------------------
  /** Node's querystring.stringify: arrays repeat their key. */
  function formEncode(fields) {
    const pairs = [];
    for (const key of Object.keys(fields)) {
      const values = Array.isArray(fields[key]) ? fields[key] : [fields[key]];
      for (const value of values) {
        const text = value === null || value === undefined ? '' : String(value);
        pairs.push(`${encodeURIComponent(key)}=${encodeURIComponent(text)}`);
      }
    }
    return pairs.join('&');
  }

  class HTTPResponse {
    constructor(answer) {
      this.status = answer.status;
      this.headers = answer.headers;
      this.text = answer.text;
    }
    /** The body parsed as JSON, or undefined when it is not JSON. */
    get data() {
      try { return JSON.parse(this.text); } catch (error) { return undefined; }
    }
  }

  /** Parse.Cloud.httpRequest: a body object is sent form-encoded unless the Content-Type says
   * JSON; 3xx are not followed unless `followRedirects`; a status below 200 or from 400 rejects
   * with the response, a network failure with an Error. */
  function httpRequest(options) {
    return new Promise((resolve, reject) => {
      const opts = options || {};
      const headers = Object.assign({}, opts.headers || {});
      let body = opts.body;
      if (body !== null && typeof body === 'object') {
        const key = Object.keys(headers).find((name) => /content-type/i.test(name));
        if (!key) {
          body = formEncode(body);
          headers['Content-Type'] = 'application/x-www-form-urlencoded';
        } else if (/application\/json/i.test(headers[key])) {
          body = JSON.stringify(body);
        } else {
          body = formEncode(body);
        }
      }
      let url = String(opts.url || '');
      const query = typeof opts.params === 'object' && opts.params !== null ? formEncode(opts.params) : opts.params;
      if (query) url += (url.includes('?') ? '&' : '?') + query;
      const request = { method: opts.method || 'GET', url, headers, followRedirects: opts.followRedirects === true };
      if (body !== undefined && body !== null) request.body = String(body);
      const answer = JSON.parse(native.http(JSON.stringify(request)));
      if (answer.error) {
        const error = new Error(answer.error);
        if (typeof opts.error === 'function') opts.error(error);
        reject(error);
        return;
      }
      const response = new HTTPResponse(answer.ok);
      if (response.status < 200 || response.status >= 400) {
        if (typeof opts.error === 'function') opts.error(response);
        reject(response);
        return;
      }
      if (typeof opts.success === 'function') opts.success(response);
      resolve(response);
    });
  }

  /** The WHATWG `fetch` subset cloud code written for Node uses (Parse Server 9 dropped
   * httpRequest in favour of it): method, headers, a string body; the response's status, ok,
   * headers.get, text() and json(). Redirects are followed unless `redirect: 'manual'`. */
  function fetch(input, init) {
    return new Promise((resolve) => {
      const options = init || {};
      const headers = {};
      const given = options.headers || {};
      if (typeof given.forEach === 'function' && !Array.isArray(given)) given.forEach((value, name) => { headers[name] = value; });
      else if (Array.isArray(given)) for (const [name, value] of given) headers[name] = value;
      else Object.assign(headers, given);
      const request = {
        method: (options.method || 'GET').toUpperCase(),
        url: String(input && input.url ? input.url : input),
        headers,
        followRedirects: options.redirect !== 'manual',
      };
      if (options.body !== undefined && options.body !== null) request.body = String(options.body);
      const answer = JSON.parse(native.http(JSON.stringify(request)));
      if (answer.error) throw new TypeError(`fetch failed: ${answer.error}`);
      const { status, headers: received, text } = answer.ok;
      const lower = {};
      for (const name of Object.keys(received)) lower[name.toLowerCase()] = received[name];
      resolve({
        status,
        ok: status >= 200 && status < 300,
        url: request.url,
        headers: {
          get: (name) => (lower[String(name).toLowerCase()] === undefined ? null : lower[String(name).toLowerCase()]),
          has: (name) => lower[String(name).toLowerCase()] !== undefined,
          forEach: (callback) => { for (const name of Object.keys(lower)) callback(lower[name], name); },
        },
        text: () => Promise.resolve(text),
        json: () => Promise.resolve().then(() => JSON.parse(text)),
      });
    });
  }
  if (typeof global.fetch !== 'function') global.fetch = fetch;

  // ---- config ---------------------------------------------------------------------------------
  class ParseConfig {
    constructor(attributes) { this.attributes = attributes || {}; }
    get(key) { return this.attributes[key]; }
    /** The parameters the caller may see (master-only ones with `useMasterKey`). */
    static get(options) {
      return new Promise((resolve) => {
        const answer = call('GET', 'config', {}, options);
        resolve(new ParseConfig(decode(answer.params || {})));
      });
    }
    /** Sets parameters (master key); `masterKeyOnly` maps names to true for master-only ones. */
    static save(attributes, masterKeyOnly) {
      return new Promise((resolve) => {
        const body = { params: encode(attributes || {}, false) };
        if (masterKeyOnly) body.masterKeyOnly = masterKeyOnly;
        call('PUT', 'config', body, { useMasterKey: true });
        resolve(ParseConfig.get({ useMasterKey: true }));
      });
    }
  }

  // ---- push -----------------------------------------------------------------------------------
  /** Parse.Push: `send` queues a push (the master key is needed, as on Parse Server) and resolves
   * to its `_PushStatus` objectId; `getPushStatus` reads that row. */
  const Push = {
    send(data, options) {
      return new Promise((resolve) => {
        const body = Object.assign({}, data);
        if (body.where instanceof ParseQuery) {
          if (body.where.className !== '_Installation') {
            throw new ParseError(ParseError.INVALID_QUERY, 'A push query must be a query on installations.');
          }
          body.where = body.where.toJSON().where;
        }
        for (const key of ['push_time', 'expiration_time']) {
          if (body[key] instanceof Date) body[key] = body[key].toJSON();
        }
        resolve(call('POST', 'push', body, options).pushStatusId);
      });
    },
    getPushStatus(pushStatusId, options) {
      return new ParseQuery('_PushStatus').get(pushStatusId, options);
    },
  };

  class ParseRelation {
    constructor(parent, key) {
      this.parent = parent;
      this.key = key;
      this.targetClassName = null;
    }
    add(objects) { return this._change('AddRelation', objects); }
    remove(objects) { return this._change('RemoveRelation', objects); }
    _change(op, objects) {
      const list = Array.isArray(objects) ? objects : [objects];
      if (!this.targetClassName && list.length) this.targetClassName = list[0].className;
      this.parent._relationOp(op, this.key, list);
      return this;
    }
    /** A query over the members; without a known target class the server redirects it. */
    query() {
      let query;
      if (this.targetClassName) {
        query = new ParseQuery(this.targetClassName);
      } else {
        query = new ParseQuery(this.parent.className);
        query._redirectKey = this.key;
      }
      query._where.$relatedTo = { object: this.parent.toPointer(), key: this.key };
      return query;
    }
    toJSON() { return { __type: 'Relation', className: this.targetClassName }; }
  }

  // ---- cloud functions ------------------------------------------------------------------------
  const functions = {};
  const jobs = {};

  function validationError(message) {
    return new ParseError(ParseError.VALIDATION_ERROR, `Validation failed. ${message}`);
  }

  function typeOf(value) {
    if (Array.isArray(value)) return 'Array';
    if (value instanceof Date) return 'Date';
    if (value instanceof ParseObject) return value.className;
    if (value === null) return 'null';
    const type = typeof value;
    return type.charAt(0).toUpperCase() + type.slice(1);
  }

  function checkFields(fields, params) {
    if (Array.isArray(fields)) {
      for (const field of fields) {
        if (params[field] === undefined || params[field] === null) throw validationError(`Please specify data for ${field}.`);
      }
      return;
    }
    for (const field of Object.keys(fields)) {
      let rule = fields[field];
      if (typeof rule === 'function') rule = { type: rule };
      let value = params[field];
      if ((value === undefined || value === null) && rule.default !== undefined) {
        value = typeof rule.default === 'function' ? rule.default() : rule.default;
        params[field] = value;
      }
      if (value === undefined || value === null) {
        if (rule.required) throw validationError(`Please specify data for ${field}.`);
        continue;
      }
      if (rule.type) {
        const expected = rule.type.name || String(rule.type);
        if (typeOf(value) !== expected) throw validationError(`Invalid type for ${field}. Expected: ${expected.toLowerCase()}`);
      }
      if (rule.options) {
        if (Array.isArray(rule.options)) {
          if (!rule.options.includes(value)) throw validationError(`Invalid option for ${field}. Expected: ${rule.options.join(', ')}`);
        } else if (!rule.options(value)) {
          if (rule.error) throw new ParseError(ParseError.VALIDATION_ERROR, rule.error);
          throw validationError(`Invalid value for ${field}.`);
        }
      }
    }
  }

  async function validate(validator, request) {
    if (!validator) return;
    if (typeof validator === 'function') {
      try {
        await validator(request);
      } catch (error) {
        // Parse compat: a validator's thrown string or Error is a validation error (142).
        if (error instanceof ParseError) throw error;
        throw new ParseError(ParseError.VALIDATION_ERROR, error && error.message ? error.message : String(error));
      }
      return;
    }
    // Parse compat: the master key skips an object validator entirely unless it asks otherwise.
    if (request.master && !validator.validateMasterKey) return;
    if (validator.requireMaster && !request.master) throw validationError('Master key is required to complete this request.');
    if (validator.requireUser && !request.user && !(validator.skipWithMasterKey && request.master)) throw validationError('Please login to continue.');
    if (validator.requireAnyUserRoles || validator.requireAllUserRoles) {
      if (!request.user) throw validationError('Please login to continue.');
      const token = request.user.getSessionToken();
      // The user's roles, inherited ones included, as the engine resolves them for the session.
      const roles = token ? call('GET', 'roles/mine', {}, { sessionToken: token }).roles : [];
      let any = validator.requireAnyUserRoles;
      let all = validator.requireAllUserRoles;
      if (typeof any === 'function') any = await any();
      if (typeof all === 'function') all = await all();
      if (Array.isArray(any) && !any.some((role) => roles.includes(`role:${role}`))) {
        throw validationError('User does not match the required roles.');
      }
      if (Array.isArray(all) && !all.every((role) => roles.includes(`role:${role}`))) {
        throw validationError('User does not match all the required roles.');
      }
    }
    if (Array.isArray(validator.requireUserKeys)) {
      for (const key of validator.requireUserKeys) {
        if (!request.user) throw new ParseError(ParseError.VALIDATION_ERROR, 'Please login to make this request.');
        if (request.user.get(key) === undefined || request.user.get(key) === null) {
          throw validationError(`Please set data for ${key} on your account.`);
        }
      }
    }
    if (validator.fields) checkFields(validator.fields, request.params);
  }

  async function runFunction(name, request) {
    const entry = functions[name];
    if (!entry) throw new ParseError(ParseError.SCRIPT_FAILED, `Invalid function: "${name}"`);
    await validate(entry.validator, request);
    return entry.handler(request);
  }

  /** Validators' `rateLimit`s, applied by the server to the routes they cover (Parse compat:
   * functions, and the routes of beforeSave / beforeDelete / beforeFind / beforeLogin). */
  const rateLimits = [];
  const CLASS_ROUTES = { _User: '/users', _Session: '/sessions', _Role: '/roles', _Installation: '/installations' };
  function addRateLimit(validator, paths, subPaths, methods) {
    if (!validator || typeof validator !== 'object' || !validator.rateLimit) return;
    for (const path of paths) rateLimits.push({ path, subPaths, methods, options: validator.rateLimit });
  }
  function addClassRateLimit(validator, className, methods) {
    const paths = [`/classes/${className}`];
    if (CLASS_ROUTES[className]) paths.push(CLASS_ROUTES[className]);
    addRateLimit(validator, paths, true, methods);
  }
  global.__basalt_rate_limits = () => JSON.stringify(rateLimits);

  const Cloud = {
    define(name, handler, validator) {
      if (typeof name !== 'string' || typeof handler !== 'function') throw new TypeError('Parse.Cloud.define(name, handler) needs a name and a function.');
      functions[name] = { handler, validator };
      addRateLimit(validator, [`/functions/${name}`], false, []);
    },
    run(name, params, options) {
      const request = { params: decode(encode(params || {}, true)), master: !!(options && options.useMasterKey), user: undefined, headers: {}, functionName: name };
      return runFunction(name, request);
    },
    httpRequest,
    job(name, handler) {
      if (typeof name !== 'string' || typeof handler !== 'function') throw new TypeError('Parse.Cloud.job(name, handler) needs a name and a function.');
      jobs[name] = handler;
    },
  };
  const triggers = {};
  function classNameOf(target) {
    if (typeof target === 'string') return target;
    if (target === ParseFile) return '@File';
    if (target && target.className) return target.className;
    if (target === ParseUser) return '_User';
    throw new TypeError('A trigger needs a class name or a Parse.Object subclass.');
  }
  for (const kind of ['beforeSave', 'afterSave', 'beforeDelete', 'afterDelete', 'beforeFind', 'afterFind', 'beforeSubscribe',
    'afterLiveQueryEvent']) {
    Cloud[kind] = (target, handler, validator) => {
      if (typeof handler !== 'function') throw new TypeError(`Parse.Cloud.${kind} needs a handler function.`);
      const className = classNameOf(target);
      triggers[`${kind}:${className}`] = { handler, validator };
      const methods = { beforeSave: ['POST', 'PUT'], beforeDelete: ['DELETE'], beforeFind: ['GET'] }[kind];
      if (methods) addClassRateLimit(validator, className, methods);
    };
  }
  // Log-in triggers name no class: they are about _User (log-in) and _Session (log-out).
  for (const [kind, className] of [['beforeLogin', '_User'], ['afterLogin', '_User'], ['afterLogout', '_Session'],
    ['beforePasswordResetRequest', '_User'], ['beforeConnect', '@Connect']]) {
    Cloud[kind] = (handler, validator) => {
      if (typeof handler !== 'function') throw new TypeError(`Parse.Cloud.${kind} needs a handler function.`);
      triggers[`${kind}:${className}`] = { handler, validator };
      if (kind === 'beforeLogin') addRateLimit(validator, ['/login'], false, ['POST', 'GET']);
      if (kind === 'beforePasswordResetRequest') addRateLimit(validator, ['/requestPasswordReset'], false, ['POST']);
    };
  }
  // The older names of the file triggers.
  for (const [name, kind] of [['beforeSaveFile', 'beforeSave'], ['afterSaveFile', 'afterSave'],
    ['beforeDeleteFile', 'beforeDelete'], ['afterDeleteFile', 'afterDelete']]) {
    Cloud[name] = (handler, validator) => Cloud[kind](ParseFile, handler, validator);
  }

  // ---- console --------------------------------------------------------------------------------
  function show(value) {
    if (typeof value === 'string') return value;
    if (value instanceof Error) return value.stack ? `${value}\n${value.stack}` : String(value);
    try { return JSON.stringify(value); } catch (error) { return String(value); }
  }
  global.console = {
    log: (...args) => native.log('info', args.map(show).join(' ')),
    info: (...args) => native.log('info', args.map(show).join(' ')),
    warn: (...args) => native.log('warn', args.map(show).join(' ')),
    error: (...args) => native.log('error', args.map(show).join(' ')),
    debug: (...args) => native.log('debug', args.map(show).join(' ')),
  };

  // ---- modules --------------------------------------------------------------------------------
  const modules = {};
  function makeRequire(directory) {
    return function require(specifier) {
      if (specifier === 'parse' || specifier === 'parse/node' || specifier === 'parse/node.js') return Parse;
      const path = native.resolve(directory, specifier);
      if (modules[path]) return modules[path].exports;
      const module = { exports: {}, id: path, filename: path };
      modules[path] = module;
      const source = native.read(path);
      if (path.endsWith('.json')) {
        module.exports = JSON.parse(source);
        return module.exports;
      }
      const dirname = path.slice(0, path.lastIndexOf('/')) || '/';
      const wrapper = native.compile(source, path);
      wrapper.call(module.exports, module.exports, makeRequire(dirname), module, path, dirname);
      return module.exports;
    };
  }

  // ---- what the server calls -------------------------------------------------------------------
  // Parse compat: only a Parse.Error keeps its code; anything else thrown is 141.
  function errorJSON(error) {
    if (error instanceof ParseError) return { code: error.code, message: error.message };
    if (error && typeof error === 'object' && typeof error.message === 'string') {
      return { code: ParseError.SCRIPT_FAILED, message: error.message };
    }
    if (error instanceof Error) return { code: ParseError.SCRIPT_FAILED, message: error.message };
    if (typeof error === 'string') return { code: ParseError.SCRIPT_FAILED, message: error };
    return { code: ParseError.SCRIPT_FAILED, message: show(error) };
  }

  global.__basalt_registered_triggers = function () {
    return JSON.stringify(Object.keys(triggers).concat(Object.keys(jobs).map((name) => `job:${name}`)));
  };

  global.__basalt_job = function (name, requestText) {
    const raw = JSON.parse(requestText);
    const jobId = raw.jobId;
    const request = {
      params: decode(raw.params || {}),
      jobName: name,
      jobId,
      // Records progress in the job's _JobStatus (`message`), as on Parse Server.
      message(text) {
        call('PUT', `classes/_JobStatus/${jobId}`, { message: String(text) }, { useMasterKey: true });
      },
    };
    global.__basalt_outcome = undefined;
    Promise.resolve()
      .then(() => {
        const handler = jobs[name];
        if (!handler) throw new ParseError(ParseError.SCRIPT_FAILED, 'Invalid job.');
        return handler(request);
      })
      .then((value) => { global.__basalt_outcome = JSON.stringify(value === undefined ? {} : { ok: encode(value, true) }); },
        (error) => { global.__basalt_outcome = JSON.stringify({ error: errorJSON(error) }); });
  };

  /** Runs `work` and leaves its outcome for the worker: `{}` for undefined, else `{ok}`, or
   * `{error}`. */
  function settle(work) {
    global.__basalt_outcome = undefined;
    Promise.resolve()
      .then(work)
      .then((value) => { global.__basalt_outcome = JSON.stringify(value === undefined ? {} : { ok: value }); },
        (error) => { global.__basalt_outcome = JSON.stringify({ error: errorJSON(error) }); });
  }

  function objectFrom(className, json) {
    return ParseObject.fromJSON(Object.assign({ className }, json || {}));
  }

  global.__basalt_trigger = function (kind, className, requestText) {
    const raw = JSON.parse(requestText);
    const entry = triggers[`${kind}:${className}`];
    const request = {
      triggerName: kind,
      master: !!raw.master,
      user: raw.user ? ParseObject.fromJSON(Object.assign({ className: '_User' }, raw.user)) : undefined,
      installationId: raw.installationId || undefined,
      context: raw.context || {},
      log: global.console,
    };
    if (className === '@File') {
      runFileTrigger(kind, raw, entry, request);
      return;
    }
    if (kind === 'beforeFind' || kind === 'afterFind') {
      runFindTrigger(kind, className, raw, entry, request);
      return;
    }
    if (kind === 'beforeConnect' || kind === 'beforeSubscribe' || kind === 'afterLiveQueryEvent') {
      runLiveQueryTrigger(kind, className, raw.object || {}, entry, request);
      return;
    }
    let object;
    if (kind === 'beforeSave') {
      // The stored object with the written changes on top: get() sees the new values,
      // request.original the stored ones, and what the trigger sets joins the write.
      object = objectFrom(className, raw.original);
      for (const key of Object.keys(raw.object || {})) {
        if (['objectId', 'createdAt', 'updatedAt'].includes(key)) continue;
        object._changes[key] = key === 'ACL' ? new ACL(raw.object.ACL) : decode(raw.object[key]);
      }
      request.original = raw.original ? objectFrom(className, raw.original) : undefined;
    } else {
      object = objectFrom(className, raw.object);
      request.original = raw.original ? objectFrom(className, raw.original) : undefined;
    }
    request.object = object;
    settle(async () => {
      if (!entry) return undefined;
      if (entry.validator) {
        request.params = {};
        for (const key of Object.keys(object._server).concat(Object.keys(object._changes))) request.params[key] = object.get(key);
        await validate(entry.validator, request);
      }
      await entry.handler(request);
      // The context travels back with the body, for the afterSave of the same write.
      return kind === 'beforeSave' ? Object.assign(object._body(), { __context: request.context }) : undefined;
    });
  };

  /** File triggers get `request.file` (a Parse.File: its name, and its url once stored) and
   * `request.fileSize`; the bytes stream past them. A beforeSave may return another Parse.File:
   * one already saved (its url is answered), or one with data or a name to store instead. A
   * beforeFind (GET and HEAD of a file) may throw to refuse the download or return another
   * stored Parse.File to serve; an afterFind may throw, or set `request.forceDownload` and
   * `request.responseHeaders`. */
  function runFileTrigger(kind, raw, entry, request) {
    const info = raw.object || {};
    const file = ParseFile._fromJSON(info.file || {});
    if (info.contentType) file._type = info.contentType;
    request.file = file;
    request.fileSize = info.fileSize === undefined ? null : info.fileSize;
    request.contentLength = request.fileSize;
    if (kind === 'afterFind') {
      request.forceDownload = false;
      request.responseHeaders = { 'X-Content-Type-Options': 'nosniff' };
    }
    settle(async () => {
      if (!entry) return undefined;
      if (entry.validator) {
        request.params = {};
        await validate(entry.validator, request);
      }
      const result = await entry.handler(request);
      if (kind === 'afterFind') {
        return { forceDownload: !!request.forceDownload, responseHeaders: request.responseHeaders || {} };
      }
      if (kind === 'beforeFind') return result instanceof ParseFile ? { file: { name: result._name } } : undefined;
      if (kind !== 'beforeSave' || !(result instanceof ParseFile)) return undefined;
      const replacement = { name: result._name };
      if (result._url) replacement.url = result._url;
      if (result._source) Object.assign(replacement, result._source);
      if (result._type) replacement.contentType = result._type;
      return { file: replacement };
    });
  }

  /** beforeConnect gets the connection (`useMasterKey`, `sessionToken`, `clients`, …);
   * beforeSubscribe gets `request.query`, a Parse.Query it may change. Throwing refuses. */
  function runLiveQueryTrigger(kind, className, details, entry, request) {
    for (const key of ['sessionToken', 'useMasterKey', 'clients', 'subscriptions', 'requestId']) {
      if (details[key] !== undefined && details[key] !== null) request[key] = details[key];
    }
    let query;
    if (kind === 'afterLiveQueryEvent') {
      request.event = details.event;
      request.object = objectFrom(className, details.object);
      request.original = details.original ? objectFrom(className, details.original) : undefined;
      request.sendEvent = true;
    }
    if (kind === 'beforeSubscribe') {
      query = new ParseQuery(className);
      const asked = details.query || {};
      query._where = asked.where || {};
      if (asked.keys) query._keys = String(asked.keys).split(',');
      request.query = query;
    }
    settle(async () => {
      if (!entry) return undefined;
      if (entry.validator) {
        request.params = {};
        await validate(entry.validator, request);
      }
      await entry.handler(request);
      if (kind === 'afterLiveQueryEvent') {
        const object = request.object instanceof ParseObject ? request.object.toJSON() : request.object;
        return { sendEvent: request.sendEvent !== false, object };
      }
      if (kind !== 'beforeSubscribe') return undefined;
      const chosen = request.query instanceof ParseQuery ? request.query : query;
      const answer = { where: chosen._where };
      if (chosen._keys) answer.keys = chosen._keys.join(',');
      return { query: answer };
    });
  }

  /** beforeFind gets `request.query` (it may change it or return another); afterFind gets
   * `request.objects` (it may change them or return others). */
  function runFindTrigger(kind, className, raw, entry, request) {
    global.__basalt_outcome = undefined;
    Promise.resolve()
      .then(async () => {
        if (kind === 'beforeFind') {
          const params = raw.object || {};
          const query = new ParseQuery(className);
          query._where = params.where || {};
          if (params.limit !== undefined) query._limit = params.limit;
          if (params.skip) query._skip = params.skip;
          if (params.order) query._order = String(params.order).split(',');
          if (params.include) query._include = String(params.include).split(',');
          if (params.keys) query._keys = String(params.keys).split(',');
          if (params.excludeKeys) query._exclude = String(params.excludeKeys).split(',');
          request.query = query;
          request.count = !!params.count;
          request.isGet = !!params.isGet;
          const returned = entry ? await entry.handler(request) : undefined;
          const result = (returned instanceof ParseQuery ? returned : query).toJSON();
          if (params.count) result.count = 1;
          return result;
        }
        request.objects = ((raw.object || {}).results || []).map((json) => objectFrom(className, json));
        const returned = entry ? await entry.handler(request) : undefined;
        const objects = Array.isArray(returned) ? returned : request.objects;
        return { results: objects.map((object) => (object instanceof ParseObject ? object._toFullJSON() : object)) };
      })
      .then((value) => { global.__basalt_outcome = JSON.stringify({ ok: value }); },
        (error) => { global.__basalt_outcome = JSON.stringify({ error: errorJSON(error) }); });
  }

  global.__basalt_load = function (path) {
    makeRequire('/')(path);
  };

  // A property whose value is parsed from JSON text the first time it is read (and can be
  // assigned like any other).
  const lazyJSONProperty = (target, key, text) => {
    const settle = (value) => {
      Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: true });
      return value;
    };
    Object.defineProperty(target, key, {
      configurable: true,
      enumerable: true,
      get() { return settle(JSON.parse(text)); },
      set(value) { settle(value); },
    });
  };

  // A function's request comes as separate strings rather than one JSON document (QuickJS's
  // JSON.parse and JSON.stringify cost ~12k instructions each even for a tiny document, a fifth
  // of a trivial call): `params` and `user` as JSON text ('' for none), `master` as '1' or '',
  // `installationId` and `ip` as text ('' for none), and the headers parsed only when read.
  global.__basalt_invoke = function (name, paramsText, headersText, master, userText, installationId, ip) {
    const request = {
      params: paramsText === '{}' ? {} : decode(JSON.parse(paramsText)),
      master: master === '1',
      user: userText ? ParseObject.fromJSON(Object.assign({ className: '_User' }, JSON.parse(userText))) : undefined,
      installationId: installationId || undefined,
      ip: ip || undefined,
      functionName: name,
      context: {},
    };
    lazyJSONProperty(request, 'headers', headersText || '{}');
    global.__basalt_outcome = undefined;
    const succeeded = (value) => {
      const encoded = value === undefined ? undefined : encode(value, true);
      if (typeof encoded === 'string') {
        // A string result skips JSON.stringify: the worker reads it from __basalt_result.
        global.__basalt_result = encoded;
        global.__basalt_outcome = '#string';
        return;
      }
      global.__basalt_outcome = JSON.stringify(encoded === undefined ? {} : { ok: encoded });
    };
    const failed = (error) => { global.__basalt_outcome = JSON.stringify({ error: errorJSON(error) }); };
    const entry = functions[name];
    if (entry && !entry.validator) {
      // No validator: call the handler at once, and only wait on a promise if it returns one
      // (the promise machinery was a tenth of a trivial call's cost).
      let value;
      try {
        value = entry.handler(request);
      } catch (error) {
        failed(error);
        return;
      }
      if (value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function') {
        Promise.resolve(value).then(succeeded, failed);
      } else {
        succeeded(value);
      }
      return;
    }
    Promise.resolve().then(() => runFunction(name, request)).then(succeeded, failed);
  };

  const Parse = {
    Error: ParseError,
    Object: ParseObject,
    User: ParseUser,
    Role: ParseRole,
    Installation: ParseInstallation,
    Session: ParseSession,
    Query: ParseQuery,
    ACL,
    GeoPoint,
    Config: ParseConfig,
    Push,
    Relation: ParseRelation,
    File: ParseFile,
    Cloud,
    serverURL: undefined,
    applicationId: undefined,
    initialize() {},
  };
  global.Parse = Parse;
})(globalThis);
