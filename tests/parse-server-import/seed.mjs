// Runs Parse Server 9 on the PostgreSQL database named by argv[2] and writes, through the JS
// SDK, one of everything an app keeps: a user with a password, a role holding her, objects of
// every field type with ACLs and a relation, a logged-in session and Parse.Config. Prints the
// facts the test checks afterwards as one JSON line, then exits.
import express from 'express';
import Parse from 'parse/node';
import { ParseServer } from 'parse-server';

const databaseURI = process.argv[2];
const app = express();
const listening = app.listen(0, '127.0.0.1');
await new Promise((resolve) => listening.once('listening', resolve));
const serverURL = `http://127.0.0.1:${listening.address().port}/parse`;
const server = new ParseServer({
  databaseURI, appId: 'ps-app', masterKey: 'ps-master', serverURL, silent: true, logsFolder: null,
});
await server.start();
app.use('/parse', server.app);
Parse.initialize('ps-app', undefined, 'ps-master');
Parse.serverURL = serverURL;

const ada = new Parse.User({ username: 'ada', password: 'analytical engine', email: 'ada@example.com' });
await ada.signUp();
const role = new Parse.Role('Editors', new Parse.ACL({ '*': { read: true } }));
role.getUsers().add(ada);
await role.save(null, { useMasterKey: true });
const tag = await new Parse.Object('Tag', { name: 'blue' }).save(null, { useMasterKey: true });
const items = [];
for (let n = 0; n < 5; n += 1) {
  const item = new Parse.Object('Item', {
    n, half: n / 2, title: `item ${n}`, done: n % 2 === 0,
    tags: ['a', n, { deep: [n] }], meta: { x: { y: n } },
    due: new Date(Date.UTC(2026, 0, n + 1, 10)),
    owner: ada, where: new Parse.GeoPoint(10.5, n),
    area: new Parse.Polygon([[0, 0], [0, 1], [1, 1], [1, 0]]),
    picture: { __type: 'File', name: `abc_photo${n}.jpg`, url: 'http://files.example/abc.jpg' },
  });
  const acl = new Parse.ACL();
  acl.setReadAccess(ada, true);
  acl.setWriteAccess(ada, true);
  acl.setRoleReadAccess('Editors', true);
  item.setACL(acl);
  item.relation('labels').add(tag);
  items.push(await item.save(null, { useMasterKey: true }));
}
await Parse.Config.save({ motd: 'hello from Parse Server' });
const session = await Parse.User.logIn('ada', 'analytical engine');
console.log(JSON.stringify({
  userId: ada.id,
  sessionToken: session.getSessionToken(),
  itemIds: items.map((item) => item.id).sort(),
  tagId: tag.id,
}));
listening.close();
process.exit(0);
