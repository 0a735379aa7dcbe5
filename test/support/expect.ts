// Tests import `expect` from here: chai with chai-as-promised (`.rejectedWith`) registered.
import * as chai from 'chai';
import chaiAsPromised from 'chai-as-promised';

chai.use(chaiAsPromised);

export const { expect } = chai;
