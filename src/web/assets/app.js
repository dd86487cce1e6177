/* the page script: see the front end */
