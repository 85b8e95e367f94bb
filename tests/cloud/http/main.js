// Parse.Cloud.httpRequest for tests/sdk/cloud-http.test.mjs: `fetch` passes its params through
// as the request options and reports what came back (or how it failed).
Parse.Cloud.define('fetch', async (request) => {
  try {
    const response = await Parse.Cloud.httpRequest(request.params);
    return {
      ok: true,
      status: response.status,
      data: response.data === undefined ? null : response.data,
      text: response.text,
      location: response.headers.location || null,
    };
  } catch (failure) {
    if (failure instanceof Error) return { ok: false, message: failure.message };
    return { ok: false, status: failure.status, data: failure.data === undefined ? null : failure.data };
  }
});

Parse.Cloud.define('fetchWithCallbacks', (request) =>
  new Promise((resolve) => {
    Parse.Cloud.httpRequest({
      url: request.params.url,
      success: (response) => resolve(`success ${response.status}`),
      error: (response) => resolve(`error ${response.status}`),
    });
  }));

// The same through the global fetch, as code written for Parse Server 9 (on Node) calls out.
Parse.Cloud.define('fetchGlobal', async (request) => {
  const { url, method, body, headers } = request.params;
  const response = await fetch(url, { method, body, headers });
  return {
    status: response.status,
    ok: response.ok,
    contentType: response.headers.get('Content-Type'),
    data: response.status === 200 ? await response.json() : await response.text(),
  };
});
